"""The training loop behind ``zoo train``: build, shard, step, validate, checkpoint, and write the artifact.

Every rank builds the same model from the same seed and walks the same seeded order of the data;
each takes its share of every global batch. Only rank 0 writes files.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from flexzoo.artifact.format import canonical_json
from flexzoo.assembly import ZooModel, build_model, compress_model, instantiate
from flexzoo.errors import FlexzooError, ManifestError
from flexzoo.manifest import ResolvedManifest
from flexzoo.registry import Registry, default_registry
from flexzoo.training.checkpoint import Checkpoint, CheckpointWriter, join_tensors, load_checkpoint, split_tensors
from flexzoo.training.config import HIGHER_IS_BETTER, TrainConfig
from flexzoo.training.data import Dataset, load_dataset
from flexzoo.training.objectives import Objective
from flexzoo.training.optimization import lr_factor, make_optimizer, set_lr
from flexzoo.training.progress import Progress, summary_table
from flexzoo.transfer import TransferProblem, frozen_parameter_names

AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
EPOCH_SEED_STRIDE = 1_000_003  # keeps (seed, epoch, rank) streams apart


@dataclass
class TrainResult:
    """What a finished run produced (``artifact`` and ``summary`` on rank 0 only)."""

    model: ZooModel | None  # rank 0 only
    history: list[dict[str, Any]]
    artifact: Path | None
    summary: str
    stopped_early: bool


def run_directory(out_dir: str | Path, manifest: ResolvedManifest) -> Path:
    """Where a run keeps its checkpoint and metrics: ``<out_dir>/<name>.train``."""
    return Path(out_dir) / f"{manifest.model.name}.train"


def manifest_fingerprint(manifest: ResolvedManifest) -> str:
    """The sha256 of the resolved manifest: a checkpoint resumes only the run it came from."""
    return hashlib.sha256(canonical_json(manifest.to_dict()).encode()).hexdigest()


class Trainer:
    """One rank's view of a run."""

    def __init__(self, manifest: ResolvedManifest, out_dir: str | Path, registry: Registry | None = None,
                 *, resume: bool = False, show_progress: bool = True) -> None:
        if manifest.train is None:
            where = manifest.where()
            raise ManifestError(where.file, [where.problem("train", "the manifest has no [train] section",
                                                           'add [train] with data = "digits" (for example)')])
        self.manifest = manifest
        self.registry = registry or default_registry()
        self.config = TrainConfig.from_dict(manifest.train)
        self.run_dir = run_directory(out_dir, manifest)
        self.out_dir = Path(out_dir)
        self.resume = resume
        self.show_progress = show_progress
        assert manifest.distributed is not None
        self.strategy = instantiate(manifest.distributed, manifest, self.registry)

    def fail(self, key: str, message: str, hint: str = "") -> ManifestError:
        where = self.manifest.where()
        return ManifestError(where.file, [where.problem(key, message, hint)])

    @property
    def writer(self) -> bool:
        return self.strategy.rank == 0

    def device(self) -> torch.device:
        wanted = self.config.device
        if wanted == "cuda" and not torch.cuda.is_available():
            raise self.fail("train.device", "device = \"cuda\" but torch sees no GPU here", 'use device = "auto"')
        if wanted == "cpu" or not torch.cuda.is_available():
            device = torch.device("cpu")
        else:
            device = torch.device("cuda", self.strategy.local_rank % torch.cuda.device_count())
            torch.cuda.set_device(device)
        if self.config.amp == "fp16" and device.type == "cpu":
            raise self.fail("train.amp", "amp = \"fp16\" needs a GPU; this run is on the CPU",
                            'use amp = "bf16" on the CPU')
        return device

    def run(self) -> TrainResult:
        """Train to the end (or early stop), then write the artifact on rank 0."""
        self.strategy.setup()
        try:
            return self._run()
        except RuntimeError as exc:
            if self.strategy.world_size == 1:
                raise
            reason = re.sub(r"^\[[^\]]*\]\s*", "", (str(exc).strip().splitlines() or [type(exc).__name__])[0])
            raise FlexzooError(f"rank {self.strategy.rank}: a collective operation failed ({reason.split('. ')[0]}); "
                               "another rank has probably stopped (its own message, if any, is above)") from exc
        finally:
            self.strategy.teardown()

    # -- the run ------------------------------------------------------------------------------

    def _run(self) -> TrainResult:
        config, strategy = self.config, self.strategy
        if config.threads:
            torch.set_num_threads(config.threads)
        elif strategy.world_size > 1:
            torch.set_num_threads(1)
        device = self.device()
        data = load_dataset(config, self.manifest.model.input_shape, self.manifest.file)
        model = build_model(self.manifest, self.registry, compress=False)
        objective = self._objective(model, data)
        frozen = self._freeze(model)
        checkpoint = self._checkpoint(data)
        if checkpoint:
            model.load_state_dict(checkpoint.model)
        model.to(device)
        wrapped = strategy.wrap(model)
        optimizer = make_optimizer(config, wrapped.parameters())
        if checkpoint:
            strategy.load_optimizer_state(wrapped, optimizer, checkpoint.optimizer)
        state = dict(checkpoint.state) if checkpoint else {"epoch": 0, "step": 0, "best": None, "bad_epochs": 0,
                                                            "history": [], "stopped_early": False}
        steps_per_epoch = self._steps_per_epoch(len(data.train_index))
        schedule = lr_factor(config, steps_per_epoch)
        scaler = torch.amp.GradScaler("cuda") if config.amp == "fp16" else None
        progress = Progress(config.epochs, steps_per_epoch, enabled=self.show_progress and self.writer)
        with CheckpointWriter() as writer:  # the last checkpoint is written while the artifact is
            self._epochs(model, wrapped, objective, optimizer, data, device, state, schedule, scaler, progress,
                         frozen, writer)
            final_state = strategy.model_state(wrapped)
            plain = all(type(p.data) is torch.Tensor for p in model.parameters())  # not sharded: reuse it
            return self._finish(final_state, state, data, model if plain else None)

    def _epochs(self, model: ZooModel, wrapped: torch.nn.Module, objective: Objective,
                optimizer: torch.optim.Optimizer, data: Dataset, device: torch.device, state: dict[str, Any],
                schedule: Any, scaler: Any, progress: Progress, frozen: str, writer: CheckpointWriter) -> None:
        config = self.config
        while state["epoch"] < config.epochs and not state["stopped_early"]:
            epoch = state["epoch"]
            started = time.perf_counter()
            wrapped.train()
            if frozen == "backbone":
                model.backbone.eval()  # a frozen backbone keeps its normalization statistics too
            train_loss, state["step"] = self._train_epoch(wrapped, objective, optimizer, data, device, epoch,
                                                          state["step"], schedule, scaler, progress)
            validation = self._validate(wrapped, objective, data, device)
            record = {"epoch": epoch + 1, "step": state["step"], "lr": optimizer.param_groups[0]["lr"],
                      "train_loss": train_loss, "validation": validation,
                      "seconds": round(time.perf_counter() - started, 4)}
            state["history"].append(record)
            state["epoch"] = epoch + 1
            self._early_stopping(state, validation)
            progress.epoch(record)
            self._save(wrapped, optimizer, state, data, writer)

    def _objective(self, model: ZooModel, data: Dataset) -> Objective:
        sample_inputs, _ = data.batch(data.train_index[:2])
        with torch.no_grad():
            outputs = model.eval()(sample_inputs)
        return Objective.for_model(self.config.heads, outputs, data.targets, self.fail)

    def _freeze(self, model: ZooModel) -> str:
        try:
            names = set(frozen_parameter_names(model, self.manifest.backbone.freeze))
        except TransferProblem as exc:
            raise self.fail(exc.key, exc.message, exc.hint) from None
        untrained = {head.name for head in self.config.heads if not head.weight}  # weight 0: not trained
        for name, parameter in model.named_parameters():
            parts = name.split(".")
            if name in names or (parts[0] == "heads" and parts[1] in untrained):
                parameter.requires_grad_(False)
        if not any(p.requires_grad for p in model.parameters()):
            raise self.fail("backbone.freeze", "every parameter is frozen: nothing would be trained",
                            "freeze fewer parameters, or add a head")
        return "backbone" if self.manifest.backbone.freeze is True else ("some" if names else "")

    def _checkpoint(self, data: Dataset) -> Checkpoint | None:
        if not self.resume:
            return None
        checkpoint = load_checkpoint(self.run_dir)
        expected = {"manifest_sha256": manifest_fingerprint(self.manifest), "data_sha256": data.fingerprint,
                    "world_size": self.strategy.world_size}
        changed = [key for key, value in expected.items() if checkpoint.state.get(key) != value]
        if changed:
            what = {"manifest_sha256": "the manifest", "data_sha256": "the data",
                    "world_size": f"the number of ranks (was {checkpoint.state.get('world_size')})"}
            raise FlexzooError(f"cannot resume from {self.run_dir}: {' and '.join(what[k] for k in changed)} changed "
                               "since the checkpoint was written; resume with the same setup, or train again "
                               "without --resume")
        return checkpoint

    def _steps_per_epoch(self, samples: int) -> int:
        """Full batches, plus a last partial one when it gives every rank at least one sample."""
        full, rest = divmod(samples, self.config.batch_size)
        return full + (1 if rest >= self.strategy.world_size else 0)

    def _epoch_order(self, data: Dataset, epoch: int) -> torch.Tensor:
        generator = torch.Generator().manual_seed(self.manifest.model.seed * EPOCH_SEED_STRIDE + epoch)
        return data.train_index[torch.randperm(len(data.train_index), generator=generator)]

    def _autocast(self, device: torch.device) -> contextlib.AbstractContextManager:
        if self.config.amp == "none":
            return contextlib.nullcontext()
        return torch.autocast(device_type=device.type, dtype=AMP_DTYPES[self.config.amp])

    def _train_epoch(self, wrapped: torch.nn.Module, objective: Objective, optimizer: torch.optim.Optimizer,
                     data: Dataset, device: torch.device, epoch: int, step: int, schedule: Any,
                     scaler: Any, progress: Progress) -> tuple[float, int]:
        config, rank, world = self.config, self.strategy.rank, self.strategy.world_size
        torch.manual_seed((self.manifest.model.seed * EPOCH_SEED_STRIDE + epoch) * 1024 + rank)  # dropout
        order = self._epoch_order(data, epoch)
        steps = self._steps_per_epoch(len(order))
        losses, shares = [], []
        for index in range(steps):
            batch = order[index * config.batch_size:(index + 1) * config.batch_size]
            inputs, targets = data.batch(batch[rank::world])
            if inputs.device != device:
                inputs = inputs.to(device, non_blocking=True)
            set_lr(optimizer, config, schedule(step))
            with self._autocast(device):
                outputs = wrapped(inputs)
            loss = objective.loss(outputs, targets, len(batch) / world)
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.unscale_(optimizer)
            else:
                loss.backward()
            if config.clip_grad_norm:
                torch.nn.utils.clip_grad_norm_(wrapped.parameters(), config.clip_grad_norm)
            if scaler is not None:
                scaler.step(optimizer)
                scaler.update()
            else:
                optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            losses.append(loss.detach())
            shares.append(len(batch) / world)
            step += 1
            progress.step(epoch, index + 1, loss.detach())
        seen = float(min(steps * config.batch_size, len(order)))
        total = torch.stack(losses).double() @ torch.tensor(shares, dtype=torch.float64, device=device)
        total = self.strategy.all_reduce(total)
        return float(total / seen), step

    def _validate(self, wrapped: torch.nn.Module, objective: Objective, data: Dataset, device: torch.device
                  ) -> dict[str, float]:
        rank, world = self.strategy.rank, self.strategy.world_size
        shard = data.validation_index[rank::world]
        per_rank = -(-len(data.validation_index) // world)  # the same number of batches on every rank
        sums = None
        wrapped.eval()
        with torch.no_grad():
            for start in range(0, per_rank, self.config.batch_size):
                inputs, targets = data.batch(shard[start:start + self.config.batch_size])
                with self._autocast(device):
                    outputs = wrapped(inputs.to(device))
                batch_sums = objective.sums(outputs, targets)
                sums = batch_sums if sums is None else sums + batch_sums
        assert sums is not None
        sums = self.strategy.all_reduce(sums.to(device))
        return objective.metrics(sums.cpu(), float(len(data.validation_index)))

    def _early_stopping(self, state: dict[str, Any], validation: dict[str, float]) -> None:
        rule = self.config.early_stopping
        if rule is None:
            return
        value = validation[rule.metric]
        if rule.improved(value, state["best"]):
            state["best"], state["bad_epochs"] = value, 0
        else:
            state["bad_epochs"] += 1
            state["stopped_early"] = state["bad_epochs"] >= rule.patience

    def _save(self, wrapped: torch.nn.Module, optimizer: torch.optim.Optimizer, state: dict[str, Any],
              data: Dataset, writer: CheckpointWriter) -> None:
        """Snapshot the run (collective) and hand it to the background writer on rank 0."""
        model_state = self.strategy.model_state(wrapped)  # every rank takes part
        optimizer_state = self.strategy.optimizer_state(wrapped, optimizer)
        if self.writer:
            meta = {"manifest_sha256": manifest_fingerprint(self.manifest), "data_sha256": data.fingerprint,
                    "world_size": self.strategy.world_size}
            plain, tensors = split_tensors(optimizer_state)  # clones below: training goes on changing them
            snapshot = Checkpoint({name: tensor.clone() for name, tensor in model_state.items()},
                                  join_tensors(plain, {name: tensor.clone() for name, tensor in tensors.items()}),
                                  {**state, "history": list(state["history"]), **meta})
            writer.submit(self.run_dir, snapshot)

    def _finish(self, final_state: dict[str, torch.Tensor], state: dict[str, Any], data: Dataset,
                trained: ZooModel | None) -> TrainResult:
        if not self.writer:
            return TrainResult(model=None, history=state["history"], artifact=None, summary="",
                               stopped_early=state["stopped_early"])
        model = trained or build_model(self.manifest, self.registry, initialize=False, transfer=False, compress=False)
        model.load_state_dict(final_state)
        model.cpu().requires_grad_(True)
        model = compress_model(model, self.manifest, self.registry).eval()
        history = state["history"]
        from flexzoo.artifact.write import write_artifact

        training = {
            "data": {"source": self.config.data, "description": data.description, "sha256": data.fingerprint,
                     "train_samples": len(data.train_index), "validation_samples": len(data.validation_index)},
            "epochs_run": len(history), "stopped_early": state["stopped_early"],
            "world_size": self.strategy.world_size, "strategy": self.manifest.distributed.use,
            "final_validation": history[-1]["validation"] if history else {},
            "metrics_jsonl": "".join(json.dumps(record) + "\n" for record in history),
        }
        artifact = write_artifact(model, self.manifest, self.out_dir, self.registry, training=training)
        summary = summary_table(history, HIGHER_IS_BETTER) if history else ""
        return TrainResult(model=model, history=history, artifact=artifact, summary=summary,
                           stopped_early=state["stopped_early"])


def train(manifest: ResolvedManifest, out_dir: str | Path, registry: Registry | None = None, *,
          resume: bool = False, show_progress: bool = True) -> TrainResult:
    """Train the model a manifest with a ``[train]`` section describes; write its artifact to ``out_dir``."""
    return Trainer(manifest, out_dir, registry, resume=resume, show_progress=show_progress).run()
