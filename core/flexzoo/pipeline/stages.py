"""The one owner of the order of stages.

    validate → plan → build → init → transfer → [train] → compress → report → write → export

``flexzoo.build/train/save/load/export`` and the ``zoo`` verbs are thin wrappers over the functions
at the end of this module; each reads top to bottom as the stages it runs. Stages hand each other
typed values (a :class:`~flexzoo.assembly.builder.BuildPlan`, the model, a
:class:`~flexzoo.compression.steps.Compression`, a :class:`~flexzoo.training.trainer.Fitted`, the artifact's
path). A run loads its ``[train]`` data once, whoever asks first (training, a fine-tuning or calibrating
compression step, the report), and hashes the artifact once, as it writes it.

With ``[train.lora]`` the train stage is adapt → fit → merge: adapters go on the backbone (whose
own weights are frozen), train, and are folded into the weights they adapt, so every later stage
(compress, write, export, serve) sees a plain model. With ``store = "adapters"`` the write stage
keeps the adapters and heads only, and ``load`` folds them into the base artifact's weights again
(:mod:`flexzoo.features.lora.adapters`).

With ``[[train.grow]]`` the backbone grows between epochs (:mod:`flexzoo.features.growth.growth`); every later stage
runs on the grown model and the manifest that describes it (the grown backbone's parameters), which
is what the artifact stores, with the steps taken in its training record.

An ensemble whose ``[ensemble]`` members include manifests has them made first, each through these
same stages (built, or trained when it has ``[train]``), into ``<out>/<name>.members/``
(:func:`member_artifacts`); the ensemble then runs the stages as with members given as artifacts.

The :class:`Pipeline` is also the host behind every compression step's
:class:`~flexzoo.plugin.steps.StepContext`.

What only some runs need (training, LoRA, growth, the compression report, exports) is imported by the
stage that uses it, so that ``zoo build`` does not pay for the trainer and the data pipeline.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from flexzoo.artifact.format import read_artifact
from flexzoo.artifact.load import read_weights
from flexzoo.artifact.write import write_artifact
from flexzoo.assembly import builder as assembly
from flexzoo.assembly.builder import BuildPlan, ZooModel
from flexzoo.compression.steps import Compression
from flexzoo.errors import ArtifactError, ManifestError
from flexzoo.features.ensembles.members import with_member_artifacts
from flexzoo.host.registry import Registry, default_registry
from flexzoo.hub.artifacts import artifact_file
from flexzoo.hub.scope import building
from flexzoo.manifest.resolved import ResolvedManifest
from flexzoo.manifest.train import TrainConfig
from flexzoo.manifest.transfer import artifact_location
from flexzoo.manifest.validation import DEFAULT_OPSET, EXPORT_TOLERANCE, check_export, revalidate
from flexzoo.pipeline import run_data
from flexzoo.pipeline.record import training_record
from flexzoo.pipeline.restore import retie, tied_parameters, unstored_meta_tensors
from flexzoo.pipeline.run import Run, located
from flexzoo.pipeline.run_hooks import RunHooks, manifest_fingerprint, run_directory
from flexzoo.pipeline.transfer import load_member_weights, load_transferred_weights
from flexzoo.plugin.restoring import weights_restored_afterwards
from flexzoo.plugin.steps import Distillation, StepContext

if TYPE_CHECKING:
    from flexzoo.training.data import Dataset
    from flexzoo.training.trainer import Fitted

__all__ = ["STAGES", "BuildResult", "Pipeline", "Run", "RunHooks", "TrainResult", "build", "build_artifact", "export",
           "load", "member_artifacts", "save", "train"]

#: The stages, in the order every path through the host runs them (``train`` only with [train]).
STAGES = ("validate", "plan", "build", "init", "transfer", "train", "compress", "report", "write", "export")


@dataclass
class BuildResult:
    """What ``zoo build`` (and ``flexzoo.save``) produced."""

    model: ZooModel
    artifact: Path
    exports: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class TrainResult:
    """What a finished run produced (``model``, ``artifact``, ``summary`` and ``exports`` on rank 0 only)."""

    model: ZooModel | None
    history: list[dict[str, Any]]
    artifact: Path | None
    summary: str
    stopped_early: bool
    exports: list[dict[str, Any]] = field(default_factory=list)


class Pipeline:
    """The stages over one :class:`Run`, and the host behind every compression step's context.

    The run is frozen: a stage that settles something returns a new Run, and the stages after it run
    on a pipeline over that one (:meth:`on`). What a run loads on first use and keeps (its ``[train]``
    data, its dry-run plan) is computed from the run alone, so it is the same whoever asks first.

    :param restoring: the model is being rebuilt by ``flexzoo.load`` (see :class:`Run`).
    """

    def __init__(self, manifest: ResolvedManifest | Run, registry: Registry | None = None, *,
                 restoring: bool = False) -> None:
        self.run = manifest if isinstance(manifest, Run) else \
            Run.of(manifest, registry or default_registry(), restoring=restoring)
        self.context = StepContext(input_shape=self.manifest.model.input_shape, base_dir=self.manifest.base_dir(),
                                   restoring=self.run.restoring, has_training_data=self.config is not None, host=self)
        self._data: Dataset | None = None  # loaded on first use
        self._plan: BuildPlan | None = None  # made on first use

    def on(self, run: Run) -> Pipeline:
        """The stages over ``run`` (what a stage returned), with the data this pipeline loaded."""
        pipeline = Pipeline(run)
        pipeline._data = self._data
        return pipeline

    @property
    def manifest(self) -> ResolvedManifest:
        return self.run.manifest

    @property
    def registry(self) -> Registry:
        return self.run.registry

    @property
    def config(self) -> TrainConfig | None:
        """The ``[train]`` settings (parsed once, with the run)."""
        return self.run.train

    @property
    def restoring(self) -> bool:
        return self.run.restoring

    # -- stages -------------------------------------------------------------------------------

    def plan(self) -> BuildPlan:
        """Dry-run every factory on the meta device: anything that would fail, fails here, before allocation.

        Made once per run: the backbone's pretrained preprocessing comes from it too.
        """
        if self._plan is None:
            self._plan = assembly.plan(self.manifest, self.registry, self.context)
        return self._plan

    def build(self, build_plan: BuildPlan) -> ZooModel:
        """Call the backbone and head factories for real."""
        return assembly.assemble(self.manifest, self.registry, build_plan)

    def init(self, model: ZooModel) -> None:
        """Apply the ``[[init]]`` steps (not when restoring: the stored weights replace them)."""
        if not self.restoring:
            assembly.initialize(model, self.manifest, self.registry, self.context)

    def transfer(self, model: ZooModel) -> None:
        """Copy the ``[backbone] from`` artifact's weights, or the ``[ensemble]`` members' (not when restoring:
        the artifact stands alone)."""
        if self.restoring:
            return
        if self.manifest.backbone.weights_from is not None:
            load_transferred_weights(model, self.manifest, self.registry)
        if self.manifest.ensemble is not None:
            load_member_weights(model, self.manifest, self.registry)

    def model(self) -> ZooModel:
        """plan → build → init → transfer, under the manifest's seed; then ``flexzoo_model_built``.

        Bit-identical for the same manifest, seed and plugins; the global RNG state is left as it was.
        The pretrained files the build read are the model's ``pretrained_sources``.
        """
        with contextlib.nullcontext(None) if self.restoring else building(self.manifest.file) as scope:
            build_plan = self.plan()
            with torch.random.fork_rng(devices=[]), scope.recording_sources() if scope else contextlib.nullcontext():
                torch.manual_seed(self.run.seed)
                model = self.build(build_plan)
                self.init(model)
                self.transfer(model)
                self.registry.manager.hook.flexzoo_model_built(model=model, manifest=self.manifest)
        if scope is not None:  # kept with the model: `flexzoo.save` writes it from another pipeline
            model.pretrained_sources = scope.records
        return model

    def training(self, out_dir: str | Path, hooks: RunHooks | None = None) -> Run:
        """The run as the train stage runs it: with its strategy, its run hooks, and its growth steps."""
        config = self.config
        assert config is not None
        from flexzoo.features.growth.growth import Growth

        growth = Growth(self.manifest, self.registry, config.grow, self.run.seed) if config.grow else None
        return dataclasses.replace(self.run, strategy=assembly.strategy(self.manifest, self.registry), hooks=hooks,
                                   growth=growth)

    def train(self, model: ZooModel, out_dir: str | Path, *, resume: bool, show_progress: bool | str) -> Fitted:
        """Fit the model on the ``[train]`` data under the run's strategy (its hooks hear it on rank 0).

        With ``[train.lora]`` the model gets its adapters first; the fitted model and state have them.
        A pipeline over a run without a strategy yet (:meth:`training`) makes one for this fit.
        """
        from flexzoo.training.federation import HostTraining
        from flexzoo.training.trainer import Checkpoints, Trainer, TrainingSetup

        run = self.run if self.run.strategy is not None else self.training(out_dir)
        config = run.train
        assert config is not None and run.strategy is not None
        if config.lora is not None:
            self.adapt(model)
        with located(self.manifest):
            if run.growth is not None:
                run.growth.check(model)
            checkpoints = Checkpoints(run_directory(out_dir, self.manifest), manifest_fingerprint(self.manifest),
                                      resume)
            trainer = Trainer(config, run.strategy, TrainingSetup(
                seed=run.seed, checkpoints=checkpoints, freeze=True if config.lora else self.manifest.backbone.freeze,
                show_progress=show_progress, listener=run.hooks, command=self.command(out_dir),
                local_training=HostTraining, growth=run.growth))
            return trainer.fit(model, self.training_data())

    def adapt(self, model: ZooModel) -> list[str]:
        """Put ``[train.lora]``'s adapters on the backbone, seeded (its own weights are frozen); the layers' names."""
        from flexzoo.features.lora.training import LoraProblem, adapt

        assert self.config is not None and self.config.lora is not None
        try:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(self.run.seed)
                return adapt(model.backbone, self.config.lora)
        except LoraProblem as exc:
            raise self.run.error("train.lora.targets", exc.message, exc.hint) from None

    def command(self, out_dir: str | Path) -> list[str] | None:
        """``python -m flexzoo train MANIFEST -o DIR --quiet``: this run in another process (None without a file)."""
        if not self.manifest.file or not Path(self.manifest.file).is_file():
            return None
        return [sys.executable, "-m", "flexzoo", "train", str(Path(self.manifest.file).resolve()), "-o",
                str(Path(out_dir).resolve()), "--quiet"]

    def compress(self, model: nn.Module) -> tuple[nn.Module, Compression]:
        """Make the ``[[compress]]`` steps (factories get this pipeline's context) and apply them in order."""
        compression = assembly.compression_steps(self.manifest, self.registry, self.context)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.run.seed)
            return compression.apply(model), compression

    def report(self, before: nn.Module, after: nn.Module, compression: Compression, latency: str) -> None:
        """Measure the compression (sizes, latency, validation metrics before and after) into ``compression``."""
        from flexzoo.reporting.report import compression_report

        state, _ = compression.pack(after.eval())
        evaluate = self.evaluate if self.config is not None else None
        compression.report = compression_report(before, after, state, self.manifest.model.input_shape,
                                                evaluate=evaluate, latency=latency)

    def compressed(self, model: nn.Module, latency: str) -> ZooModel:
        """compress → report (when ``latency`` is not "none" and there are steps); the result knows its recipe."""
        before = copy.deepcopy(model).eval() if latency != "none" and self.manifest.compress else None
        model, compression = self.compress(model)
        if before is not None:
            self.report(before, model, compression, latency)
        return self.described(model, compression)

    def described(self, model: nn.Module, compression: Compression | None) -> ZooModel:
        """The model, in eval mode, carrying the manifest and compression that ``flexzoo.save`` records."""
        assert isinstance(model, ZooModel), "a compression step must return the model it was given"
        model.manifest = self.manifest
        model.compression = compression
        return model.eval()

    def write(self, model: ZooModel, out_dir: str | Path, training: dict[str, Any] | None = None,
              adapters: dict[str, torch.Tensor] | None = None) -> Path:
        """Write the artifact atomically (weights hashed once, from the tensors written).

        :param adapters: the trained LoRA adapters; with ``store = "adapters"`` the artifact holds them
            and the heads, not the backbone the base artifact holds.
        """
        stored = None
        lora = self.config.lora if self.config is not None else None
        if adapters and lora is not None and lora.store == "adapters":
            from flexzoo.features.lora.adapters import adapter_state

            assert self.manifest.backbone.weights_from is not None  # validation requires [backbone] from
            base = artifact_location(self.manifest.backbone.weights_from, self.manifest.file)
            stored = adapter_state(model.state_dict(), adapters, lora, base, Path(out_dir), self.registry)
        return write_artifact(model, self.manifest, out_dir, self.registry, compression=model.compression,
                              training=training, data=self.data_card(), adapters=stored,
                              pretrained=getattr(model, "pretrained_sources", None), profile=self.profile(model),
                              features=self.measured_features(model))

    def measured_features(self, model: ZooModel) -> Any:
        """The backbone's output this run's dry run measured on the meta device, for the model card: when the
        plan was made here and ``model`` has the architecture it built (no [[compress]] step; no hook changed
        it); else None, and the card runs the backbone on meta itself."""
        plan = self._plan
        if plan is None or plan.meta_features is None or plan.meta_model is None or self.manifest.compress:
            return None
        return plan.meta_features if assembly.same_architecture(plan.meta_model, model) else None

    def profile(self, model: ZooModel) -> dict[str, Any] | None:
        """The reference profile of the model on the data (:func:`flexzoo.pipeline.run_data.profile`)."""
        return run_data.profile(self.run, self._data, model)

    def export(self, model: nn.Module, artifact: str | Path, formats: list[str] | None = None,
               out_dir: str | Path | None = None, tolerance: float = EXPORT_TOLERANCE) -> list[dict[str, Any]]:
        """Export the model in memory to ``formats`` (default: ``[export] formats``) beside the artifact."""
        settings = self.manifest.export or {}
        chosen = formats if formats is not None else settings.get("formats", [])
        if not chosen:
            return []
        from flexzoo.exporting.exporters import export as export_format
        from flexzoo.exporting.exporters import export_path
        from flexzoo.reporting.progress import Units, current_display

        check_export(self.manifest, chosen, self.registry)
        shapes = self.manifest.input_shapes() or self.manifest.model.input_shape
        if shapes is None:
            raise ArtifactError(f"{artifact}: the model has no [model] input_shape, which export needs to trace it")
        results = []
        with Units("export", len(chosen), "formats", display=current_display() or "off") as units:
            for name in chosen:  # one line per format, with its seconds, as the verb's display says
                units.begin(f"export {name}")
                results.append(export_format(model, shapes, name, export_path(artifact, name, out_dir),
                                             opset=settings.get("opset", DEFAULT_OPSET), tolerance=tolerance).as_dict())
                units.end(f"exported {name} to {results[-1]['path']}")
        return results

    # -- what compression steps may ask of the host (flexzoo.plugin.steps.StepHost) ----------------

    def training_data(self) -> Dataset:
        """The ``[train]`` data, loaded on first use and kept for the rest of the run.

        Images normalized as ``normalize = "auto"`` asks take the mean and std the backbone's pretrained
        weights declare: read from the run's dry run, so they are the same whether the data or the model
        comes first.
        """
        if self._data is None:
            self._data = run_data.load_data(self.run, lambda: self.plan().preprocessing)
        return self._data

    def data_source(self) -> Any:
        """Call the ``[train] data`` source's factory (a ``flexzoo_datasets`` component) with its parameters."""
        return run_data.data_source(self.run)

    def data_card(self) -> dict[str, Any] | None:
        """What the artifact records of the data (:func:`flexzoo.pipeline.run_data.data_card`)."""
        return run_data.data_card(self.run, self._data)

    def fine_tune(self, model: nn.Module, epochs: int | None, distillation: Distillation | None
                  ) -> list[dict[str, Any]]:
        from flexzoo.training import fine_tune as tuning

        assert self.config is not None
        with located(self.manifest):
            return tuning.fine_tune(model, self.config, self.training_data(), seed=self.run.seed, epochs=epochs,
                                    distillation=distillation)

    def evaluate(self, model: nn.Module) -> dict[str, float]:
        from flexzoo.training import fine_tune as tuning

        assert self.config is not None
        with located(self.manifest):
            return tuning.evaluate(model, self.config, self.training_data(), seed=self.run.seed)

    def load_artifact(self, path: Path) -> nn.Module:
        return load(path, self.registry)

    def weights_sha256(self, path: Path) -> str:
        return read_artifact(path, verify_weights=False).weights_sha256



# -- the paths through the stages ---------------------------------------------------------------


def build(manifest: ResolvedManifest, registry: Registry | None = None, *, report: str = "none") -> ZooModel:
    """plan → build → init → transfer → compress → report: the model in memory, ready to save."""
    pipeline = Pipeline(manifest, registry)
    return pipeline.compressed(pipeline.model(), report)


def save(model: ZooModel, out_dir: str | Path, registry: Registry | None = None, *, export: bool = True
         ) -> BuildResult:
    """write → export: the artifact of a model made by ``build`` or ``load``, and its ``[export]`` formats."""
    if not isinstance(model.manifest, ResolvedManifest):
        raise TypeError("save() needs a model made by flexzoo.build() or flexzoo.load()")
    pipeline = Pipeline(model.manifest, registry)
    artifact = pipeline.write(model, out_dir)
    return BuildResult(model, artifact, pipeline.export(model, artifact) if export else [])


def build_artifact(manifest: ResolvedManifest, out_dir: str | Path, registry: Registry | None = None, *,
                   report: str = "eager") -> BuildResult:
    """Every stage but train: what ``zoo build`` does."""
    pipeline = Pipeline(member_artifacts(manifest, out_dir, registry), registry)
    model = pipeline.compressed(pipeline.model(), report)
    artifact = pipeline.write(model, out_dir)
    return BuildResult(model, artifact, pipeline.export(model, artifact))


def train(manifest: ResolvedManifest, out_dir: str | Path = "out", registry: Registry | None = None, *,
          resume: bool = False, show_progress: bool | str = False) -> TrainResult:
    """Every stage: what ``zoo train`` does on each rank (rank 0 compresses, writes and exports).

    ``show_progress``: True draws bars on a terminal (one line per epoch elsewhere), ``"lines"`` keeps to
    the lines, False shows nothing.
    """
    from flexzoo.features.lora.training import adapter_tensors, merge_adapters
    from flexzoo.training.progress import summary_table

    pipeline = Pipeline(member_artifacts(manifest, out_dir, registry), registry)
    if pipeline.config is None:
        raise pipeline.run.error("train", "the manifest has no [train] section", 'add [train] with data = "digits" '
                                 "(for example)")
    pipeline.training_data()
    hooks = RunHooks(pipeline.registry, pipeline.manifest, pipeline.config, out_dir)
    try:
        pipeline = pipeline.on(pipeline.training(out_dir, hooks))
        fitted = pipeline.train(pipeline.model(), out_dir, resume=resume, show_progress=show_progress)
        if fitted.rank != 0:  # ranks other than 0 write nothing
            return TrainResult(None, fitted.history, None, "", fitted.stopped_early)
        pipeline = pipeline.on(pipeline.run.grown())  # later stages, and the artifact, see the grown model
        trained = fitted.model if fitted.plain else _unsharded(pipeline, fitted.model)
        trained.load_state_dict(fitted.state)
        adapters = {name: tensor.cpu().clone() for name, tensor in adapter_tensors(trained).items()}
        merge_adapters(trained)  # [train.lora]: later stages see a plain model with the merged weights
        trained.cpu().requires_grad_(True)
        model = pipeline.compressed(trained, "eager")
        assert pipeline.config is not None
        record = training_record(pipeline.manifest, pipeline.config, pipeline.training_data(), fitted,
                                 pipeline.run.growth)
        artifact = pipeline.write(model, out_dir, record, adapters)
        exports = pipeline.export(model, artifact)
    except BaseException:
        hooks.ended(None)
        raise
    hooks.ended(artifact, fitted.history)
    summary = summary_table(fitted.history, pipeline.config.higher_is_better) if fitted.history else ""
    return TrainResult(model, fitted.history, artifact, summary, fitted.stopped_early, exports)


def member_artifacts(manifest: ResolvedManifest, out_dir: str | Path, registry: Registry | None = None
                     ) -> ResolvedManifest:
    """``[ensemble]`` members given as manifests, built (trained, with [train]) into ``<out_dir>/<name>.members/``
    first; the manifest returned names their artifacts (see :mod:`flexzoo.features.ensembles.members`)."""
    registry = registry or default_registry()

    def make(member: ResolvedManifest, folder: Path) -> Path:
        if member.train is None:
            return build_artifact(member, folder, registry, report="none").artifact
        artifact = train(member, folder, registry).artifact
        assert artifact is not None, "a member trains in this process, as rank 0"
        return artifact

    return with_member_artifacts(manifest, out_dir, make, lambda member: Pipeline(member, registry).training_data()
                                 .fingerprint, registry)


def _unsharded(pipeline: Pipeline, fitted: nn.Module) -> ZooModel:
    """A plain copy of the architecture (with its adapters) to hold the gathered state of a sharded (FSDP) run;
    it keeps the pretrained files the ``fitted`` model was built from."""
    with weights_restored_afterwards():
        model = Pipeline(pipeline.manifest, pipeline.registry, restoring=True).model()
    if pipeline.config is not None and pipeline.config.lora is not None:
        pipeline.adapt(model)
    model.pretrained_sources = getattr(fitted, "pretrained_sources", None)
    return model


def load(path: str | Path, registry: Registry | None = None, *, device: str | torch.device | None = None
         ) -> ZooModel:
    """Rebuild the model stored at ``path``, in eval mode, with the weights it was saved with.

    The file is memory-mapped and read once; its weights are checked against their sha256 as they
    are read, its plugins against what is installed. The model is rebuilt from the stored manifest
    (restoring: no initializers, no outside weights, compression steps restore their structure) on
    the meta device, and the stored tensors are assigned to it: nothing is allocated twice and no
    initializer runs. Where that cannot work (a step that runs the model while restoring, a buffer
    the file does not hold) the model is built with real tensors and loaded strictly, as before.

    :param device: where the weights go ("cuda" loads them straight to the GPU); default: the CPU.
    :param path: a file, or ``"hf-hub:ORG/NAME[@REVISION]"`` (pulled through the Hugging Face cache).
    """
    registry = registry or default_registry()
    artifact, tensors = read_weights(artifact_file(path), registry, device)
    records = artifact.compression_steps
    try:
        manifest = revalidate(artifact.manifest, f"{artifact.path} (stored manifest)", registry)
        pipeline = Pipeline(manifest, registry, restoring=True)
        compression = assembly.compression_steps(manifest, registry, pipeline.context)
        on_meta = compression.restores_on_meta
        model = _restored(pipeline, compression, records, on_meta)
        if on_meta and unstored_meta_tensors(model):  # non-persistent buffers: only a real build has them
            on_meta, model = False, _restored(pipeline, compression, records, on_meta=False)
    except ManifestError as exc:
        raise ArtifactError(f"{artifact.path}: the stored manifest no longer builds here:\n{exc}") from exc
    except (ValueError, KeyError, RuntimeError, AttributeError) as exc:  # a step could not use its record
        raise ArtifactError(f"{artifact.path}: a compression step cannot rebuild its structure from the record "
                            f"stored in the artifact ({type(exc).__name__}: {exc}); rebuild the artifact with the "
                            "installed plugins") from exc
    tensors, packed = compression.unpack(tensors, records)
    expected = model.state_dict()
    missing, unexpected = sorted(set(expected) - set(tensors)), sorted(set(tensors) - set(expected))
    if missing or unexpected:
        raise ArtifactError(f"{artifact.path}: weights do not fit the rebuilt model "
                            f"(missing {missing[:5]}, unexpected {unexpected[:5]})")
    ties = tied_parameters(model)
    try:  # on meta, and for unpacked tensors, the stored tensors become the model's, as they are
        model.load_state_dict(tensors, strict=True, assign=on_meta or packed)
    except RuntimeError as exc:
        raise ArtifactError(f"{artifact.path}: weights do not fit the rebuilt model: {exc}") from exc
    retie(model, ties)
    if device is not None and not on_meta:
        model.to(device)
    return pipeline.described(model, compression)


def _restored(pipeline: Pipeline, compression: Compression, records: list[dict[str, Any]], on_meta: bool
              ) -> ZooModel:
    """The architecture with its compressed structure, without weights worth keeping (meta ones when ``on_meta``)."""
    with weights_restored_afterwards(), (torch.device("meta") if on_meta else contextlib.nullcontext()):
        return compression.restore(pipeline.model(), records)  # the stored weights replace what factories load


def export(model: ZooModel, artifact: str | Path, formats: list[str] | None = None, out_dir: str | Path | None = None,
           tolerance: float = EXPORT_TOLERANCE, registry: Registry | None = None) -> list[dict[str, Any]]:
    """Export a built or loaded model to ``formats`` (default: its ``[export] formats``, else onnx)."""
    if not isinstance(model.manifest, ResolvedManifest):
        raise TypeError("export() needs a model made by flexzoo.build() or flexzoo.load()")
    settings = model.manifest.export or {}
    chosen = formats or settings.get("formats") or ["onnx"]
    return Pipeline(model.manifest, registry).export(model, artifact, chosen, out_dir, tolerance)
