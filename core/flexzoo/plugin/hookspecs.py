"""The whole extension surface of flexzoo: hook markers and hook specifications.

A plugin is a module (named by an entry point in the ``flexzoo`` group) holding functions marked
with :data:`hookimpl`. Registration hooks return :class:`flexzoo.Component` declarations; they run
when the host builds its registry, so they must stay cheap: no torch import at module level, no
model construction. Factories import their heavy dependencies when they are called.

Lifecycle hooks run during ``zoo build`` and ``zoo train`` and receive the real objects.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import torch.nn as nn

    from flexzoo.hub.sources import PretrainedSource
    from flexzoo.manifest.resolved import ResolvedManifest
    from flexzoo.plugin.components import Component
    from flexzoo.plugin.tracking import RunInfo

__all__ = [
    "PROJECT_NAME",
    "flexzoo_artifact_metadata",
    "flexzoo_backbones",
    "flexzoo_compressors",
    "flexzoo_datasets",
    "flexzoo_epoch_end",
    "flexzoo_explainers",
    "flexzoo_heads",
    "flexzoo_initializers",
    "flexzoo_model_built",
    "flexzoo_pretrained_source",
    "flexzoo_run_end",
    "flexzoo_run_start",
    "flexzoo_strategies",
    "hookimpl",
    "hookspec",
]

PROJECT_NAME = "flexzoo"

#: Marks the host's hook specifications (the functions below); plugins do not need it.
hookspec = pluggy.HookspecMarker(PROJECT_NAME)
#: Marks a plugin's hook implementations: ``@hookimpl def flexzoo_backbones(): ...``.
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


# ---------------------------------------------------------------------------------------------
# Registration hooks: called once per process, when the registry is first needed.
# Each returns a sequence of Component; anything else marks the plugin broken (it is reported
# by ``zoo plugins`` and skipped, and every other plugin keeps working).
# ---------------------------------------------------------------------------------------------


@hookspec
def flexzoo_backbones() -> Sequence[Component]:
    """Declare backbones: modules that turn an input batch into features.

    A backbone factory takes its parameters as keyword arguments and returns an ``nn.Module``
    mapping a batch of shape ``(B, *input_shape)`` to features of shape ``(B, F)``. It may declare
    a parameter ``input_shape: tuple[int, ...]``, which the host fills from ``[model] input_shape``.
    A backbone that can also return feature maps declares ``returns: str``: the host passes
    ``"maps"`` when the heads take maps, and the module then sets ``feature_maps`` (a tuple of
    ``FeatureMap(name, channels, stride)``) and returns a dict of ``(B, C, H, W)`` maps by name.

    :return: the plugin's backbones. Every plugin's result is collected.
    """


@hookspec
def flexzoo_heads() -> Sequence[Component]:
    """Declare heads: modules on top of the backbone's features, one per task.

    A head factory must take ``in_features: int`` (filled by the host from the backbone's output)
    and returns an ``nn.Module`` mapping ``(B, in_features)`` to the task's output; or, for a dense
    head, ``feature_maps: list[FeatureMap]`` instead, and the module maps the backbone's dict of
    maps to the output (it may also declare ``input_shape``). The dry run refuses a head whose
    input the backbone cannot return, naming both. ``Component(..., tasks=(HeadTask(...),))``
    declares what the head is trained for: its losses, metrics, score and decoding
    (:class:`flexzoo.plugin.HeadTask`); a head without tasks trains for classification, regression
    or detection.

    :return: the plugin's heads. Every plugin's result is collected.
    """


@hookspec
def flexzoo_initializers() -> Sequence[Component]:
    """Declare initializers.

    An initializer factory takes its parameters and returns a callable ``init(module) -> None``
    that initializes, in place, the parameters owned directly by one module. The host calls it on
    every module whose qualified name matches the manifest's ``match`` glob, under the build seed.
    A data-dependent one (LSUV) declares ``context`` and has ``initialize(model, selected)``, which the
    host calls once instead (:class:`flexzoo.plugin.DataDependentInitializer`).

    :return: the plugin's initializers. Every plugin's result is collected.
    """


@hookspec
def flexzoo_compressors() -> Sequence[Component]:
    """Declare compressors: transformations of a built (or trained) model.

    A compressor factory takes its parameters and returns a step that follows
    :class:`flexzoo.plugin.CompressionStep`: ``step(model) -> model``, keeping the ``backbone``/``heads``
    layout. The host fills two factory parameters when the factory declares them:

    - ``input_shape: tuple[int, ...]``, from ``[model] input_shape``;
    - ``context: StepContext`` (:class:`flexzoo.plugin.StepContext`): what a step may ask of the host:
      the ``[train]`` data (loaded once per run), ``fine_tune(model, epochs=...)``, ``evaluate(model)``,
      ``load_artifact(path)`` (a teacher), ``resolve_path``, and ``restoring`` (the model is being
      rebuilt by ``flexzoo.load``: restore, don't train). Ask for data in the step, not the factory:
      factories also run in the dry run.

    A step whose structure the architecture alone does not determine (pruned shapes, ranks,
    activation scales) is a :class:`flexzoo.plugin.RestorableStep` (``record()`` and
    ``restore(model, record)``); one that leaves tensors safetensors cannot hold is a
    :class:`flexzoo.plugin.PackingStep` (``pack(state)`` and ``unpack(tensors, packing)``). The
    Protocols' docstrings say when the host calls each member. A step whose ``restore`` (or replay)
    needs no tensor values (it reshapes, replaces or casts modules) sets ``restores_on_meta = True``:
    ``flexzoo.load`` then rebuilds the model on the meta device and assigns the stored tensors,
    without allocating or initializing anything; otherwise the model is built with real tensors.

    A component may also say how steps combine (``Component.makes``, ``refuses_after``) and which
    ``[export] formats`` its result supports (``Component.export_formats``); validation refuses a
    manifest that breaks either, before anything is built.

    :return: the plugin's compressors. Every plugin's result is collected.
    """


@hookspec
def flexzoo_strategies() -> Sequence[Component]:
    """Declare distributed strategies: how a model runs across processes.

    A strategy factory takes its parameters (``[distributed]`` keys) and returns an object that
    follows :class:`flexzoo.plugin.Strategy`, exactly what the trainer calls: ``setup()``; then
    ``rank``, ``world_size``, ``local_rank``; ``wrap(model)``; ``all_reduce(tensor)`` (a sum over
    ranks); ``model_state(wrapped)`` and ``optimizer_state(wrapped, optimizer)`` (collective; rank 0
    receives the full state on the CPU); ``load_optimizer_state(wrapped, optimizer, state)`` on
    resume; ``teardown()``, even when training failed. Optional members (sharded checkpoints, an
    optimizer whose state is sharded) are listed on :class:`flexzoo.plugin.Strategy`. Subclass
    :class:`flexzoo.plugin.SingleProcess` and override what your strategy does differently;
    ``flexzoo.testing.check_strategy`` runs the trainer's sequence on your strategy.

    :return: the plugin's strategies. Every plugin's result is collected.
    """


@hookspec
def flexzoo_datasets() -> Sequence[Component]:
    """Declare data sources: what ``[train] data = "name:LOCATION"`` reads.

    A dataset factory takes its parameters (the ``[train.source]`` keys) and returns an object that
    follows :class:`flexzoo.plugin.DataSource`: a map-style data set (``len(source)`` and
    ``source[i] -> (input, {target: value})``) whose samples are decoded when asked for, so that
    ``torch.utils.data.DataLoader`` workers read them in parallel and nothing is held in memory. An
    input is a ``PIL.Image`` (the host applies ``[train.preprocess]`` and ``[train.augment]``) or an
    array (used as it is). Optional members: ``labels`` (class names per target, stored in the
    artifact), ``targets`` (every target, read without decoding inputs), ``arrays`` (small data held
    in memory: the fast path), ``held_out`` (the last N samples are the validation split) and
    ``fingerprint()``. A sample that cannot be read raises; the host skips or refuses it by
    ``[train] on_bad_sample``. Whole-source problems (a missing column, an unreadable shard, a path
    outside the data root) raise :class:`flexzoo.plugin.DataError` from the factory.

    The host fills two factory parameters when the factory declares them:

    - ``location: str``, the part of ``[train] data`` after ``name:``; a relative path is resolved
      from the manifest's folder;
    - ``input_shape: tuple[int, ...]``, from ``[model] input_shape``.

    ``flexzoo.testing.check_dataset`` reads a source as the host does.

    :return: the plugin's data sources. Every plugin's result is collected.
    """


@hookspec
def flexzoo_trackers() -> Sequence[Component]:
    """Declare trackers: where a training run is logged (``[track] use = ["name"]``), with settings of their own.

    A tracker factory takes its settings as keyword arguments (the keys of the ``[track.<name>]`` table,
    validated against its signature before anything runs, shown by ``zoo info <name>``) and returns an
    object that follows :class:`flexzoo.plugin.Tracker`: any of ``run_start(run)``,
    ``epoch_end(run, epoch, metrics)`` and ``run_end(run, artifact, history, status)``, called on rank 0
    for the runs whose ``[track] use`` names it. The factory is called once per run, when it starts.
    ``run.settings("<name>")`` holds the resolved settings too, for a plugin that logs through the run
    hooks below instead.

    ``flexzoo.testing.check_tracker`` runs a tracker through a real training run.

    :return: the plugin's trackers. Every plugin's result is collected.
    """


@hookspec
def flexzoo_explainers() -> Sequence[Component]:
    """Declare explainers: how a prediction is attributed to its input (``zoo explain --method NAME``).

    An explainer factory takes its settings as keyword arguments and returns an object that follows
    :class:`flexzoo.plugin.Explainer`: ``settings`` (the baseline and every setting, recorded beside
    each explanation), ``needs_feature_maps`` and ``attribute(forward, inputs, target, layer)``, which
    returns one attribution per input value. The host chooses the head and the target class, runs the
    model in evaluation mode with gradients, and checks what comes back: an explainer with a
    ``baseline(inputs)`` member claims completeness (attributions sum to ``f(x) - f(baseline)``), and
    the host reports the gap; ``zoo explain --sanity`` re-initializes the heads and the last backbone
    stage and says whether the explainer's maps change (Adebayo et al. 2018).

    An explainer with ``needs_feature_maps = True`` (Grad-CAM) receives as ``layer`` the module whose
    output is the backbone's last declared feature map (:class:`flexzoo.plugin.FeatureMap`, or the one
    ``--layer`` names); the host refuses it, with one message, for a backbone that declares none.

    ``flexzoo.testing.check_explainer`` runs an explainer on a small CNN as the host does.

    :return: the plugin's explainers. Every plugin's result is collected.
    """


# ---------------------------------------------------------------------------------------------
# Reference hooks: how a component's references to outside files resolve. Called by ``zoo lock``,
# ``zoo fetch``, ``zoo cache verify`` and ``zoo build``, on the plugin that offers the component only.
# ---------------------------------------------------------------------------------------------


@hookspec(firstresult=True)
def flexzoo_pretrained_source(component: str, reference: str | bool,
                              parameters: Mapping[str, Any]) -> PretrainedSource | None:
    """Say where a backbone's ``pretrained`` reference comes from: the files to fetch, lock and verify.

    Declare it once, and the host does the rest for every reference the plugin accepts: ``zoo fetch``
    downloads the files into the libraries' caches (``HF_HUB_CACHE``, ``TORCH_HOME``), ``zoo lock``
    pins each to its commit and sha256, ``zoo build`` refuses a file that differs from the lock and,
    offline (``HF_HUB_OFFLINE=1``), names the ``zoo fetch`` command for a missing one, and
    ``zoo cache verify`` re-hashes them. The factory reads the files through
    ``flexzoo.plugin.fetch_pretrained(source)`` (see :class:`flexzoo.plugin.PretrainedWeights`), which
    also records repository, commit, file, size, sha256 and preprocessing in the artifact.

    :param component: the backbone's name within the plugin (``resnet50`` for ``timm:resnet50``).
    :param reference: the ``pretrained`` value as the manifest wrote it: ``true`` (the architecture's
        default weights), a library's weights name (``"IMAGENET1K_V2"``), ``"hf-hub:ORG/NAME[@REVISION]"``
        (parse it with ``flexzoo.plugin.HubReference``), or a local path.
    :param parameters: the backbone's other parameters, every default filled in.
    :return: a :class:`flexzoo.plugin.PretrainedSource`; None when the reference is a local path (the
        host then pins the file itself). Raise ``ParameterError("pretrained", ...)`` for a reference the
        plugin cannot resolve, naming the valid ones. Stops at the first non-None result.
    """


# ---------------------------------------------------------------------------------------------
# Lifecycle hooks: called by the pipeline (``flexzoo.pipeline.stages``) at its stages, in plugin order.
# ---------------------------------------------------------------------------------------------


@hookspec
def flexzoo_model_built(model: nn.Module, manifest: ResolvedManifest) -> None:
    """Called after the model is assembled, initialized and given its ``from`` weights (the ``build``,
    ``init`` and ``transfer`` stages), before training and compression; also when ``flexzoo.load``
    rebuilds a model, before its stored weights are loaded.

    Like every hook, it is called through pluggy: an implementation may take any subset of the
    arguments.

    :param model: the assembled model (``model.backbone``, ``model.heads``).
    :param manifest: the validated manifest, every default filled in.
    :return: nothing; a plugin may inspect the model or modify it in place.
    """


@hookspec
def flexzoo_artifact_metadata(model: nn.Module, manifest: ResolvedManifest) -> Mapping[str, Any] | None:
    """Called just before an artifact is written, to add JSON-serializable entries to it.

    :param model: the final model whose weights are written.
    :param manifest: the validated manifest.
    :return: a mapping stored in the artifact under ``extra.<plugin name>``, or None.
    """


# ---------------------------------------------------------------------------------------------
# Run hooks: called by the training stage (``zoo train``, ``flexzoo.train``, each ``zoo tune`` trial),
# on rank 0 only, for every plugin. A tracker logs only the runs whose ``[track] use`` names it
# (``run.tracks("<plugin name>")``). Keep ``flexzoo_epoch_end`` cheap: it runs between epochs.
# ---------------------------------------------------------------------------------------------


@hookspec
def flexzoo_run_start(run: RunInfo) -> None:
    """Called once the run's ranks are set up, before the first epoch (after a resume: before the next one).

    :param run: the run (:class:`flexzoo.plugin.RunInfo`): its name and ``run_dir``, the resolved manifest
        (``run.params`` flattens it), the ``[track]`` settings, the planned epochs, ``first_epoch``.
    :return: nothing.
    """


@hookspec
def flexzoo_epoch_end(run: RunInfo, epoch: int, metrics: Mapping[str, float]) -> None:
    """Called after each epoch's validation and early-stopping check, before its checkpoint is written.

    An exception raised here stops the run (``zoo tune`` prunes a trial that way); the run then ends
    with ``flexzoo_run_end(status="failed")``.

    :param run: the run, as given to ``flexzoo_run_start``.
    :param epoch: the epoch just finished, from 1.
    :param metrics: flat scalars: ``train/loss``, ``lr``, ``seconds`` and ``validation/<name>`` for each
        validation metric (``validation/loss``, ``validation/digit.accuracy``).
    :return: nothing.
    """


@hookspec
def flexzoo_run_end(run: RunInfo, artifact: Path | None, history: Sequence[Mapping[str, Any]], status: str) -> None:
    """Called when the run is over: after the artifact is written and exported, or when training failed.

    :param run: the run, as given to ``flexzoo_run_start``.
    :param artifact: the artifact written (``.safetensors``), or None when the run failed.
    :param history: every epoch's record (the lines of ``metrics.jsonl``).
    :param status: ``"finished"`` or ``"failed"``.
    :return: nothing.
    """
