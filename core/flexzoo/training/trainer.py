"""The training stage: fit a built model on its data under a strategy; checkpoints, resume, early stopping.

The trainer knows nothing of manifests' components, artifacts or compression: the pipeline builds
the model, hands it over with the data and the strategy, and takes back the final state.
Every rank builds the same model from the same seed; only rank 0 writes checkpoints.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn

from flexzoo.errors import FlexzooError, ManifestKeyError
from flexzoo.manifest.train import TrainConfig
from flexzoo.plugin.protocols import Strategy
from flexzoo.training.checkpoint import (
    SHARDS_PREFIX,
    Checkpoint,
    CheckpointWriter,
    join_tensors,
    load_checkpoint,
    split_tensors,
)
from flexzoo.training.data import Dataset
from flexzoo.training.freezing import FreezeProblem, frozen_parameter_names
from flexzoo.training.loop import EpochLoop
from flexzoo.training.objectives import Objective
from flexzoo.training.optimization import lr_factor, make_optimizer
from flexzoo.training.progress import Progress

__all__ = ["Checkpoints", "Fitted", "Growing", "LoopState", "RunListener", "Trainer", "TrainingSetup"]


class Growing(Protocol):
    """What grows the model between epochs (``[[train.grow]]``; :class:`flexzoo.features.growth.growth.Growth`)."""

    def due(self, epoch: int) -> bool:
        """Whether the model grows after ``epoch`` (from 1)."""

    def grow(self, model: nn.Module, epoch: int) -> dict[str, Any]:
        """Grow ``model`` in place, keeping its outputs; return what changed (for the epoch's record)."""

    def replay(self, model: nn.Module, epoch: int) -> None:
        """Grow ``model`` as the run had grown it by the end of ``epoch`` (before a checkpoint is loaded)."""


class RunListener(Protocol):
    """Who hears of the run's progress, on rank 0 only (the pipeline: it calls the run hooks)."""

    def started(self, world_size: int, first_epoch: int) -> None:
        """The ranks are set up and ``first_epoch`` (from 1; later after a resume) is about to run."""

    def epoch_ended(self, record: dict[str, Any]) -> None:
        """An epoch ended; ``record`` is its ``metrics.jsonl`` line. May raise to stop the run."""


@dataclass(frozen=True)
class Checkpoints:
    """Where a run keeps its checkpoint (``<out>/<name>.train``), and whose it is.

    :param fingerprint: the sha256 of the resolved manifest: a checkpoint resumes only its own run.
    :param resume: continue from the checkpoint in ``run_dir``.
    """

    run_dir: Path
    fingerprint: str
    resume: bool = False


@dataclass(frozen=True)
class TrainingSetup:
    """How one rank runs the fit, apart from the ``[train]`` settings and the strategy.

    :param freeze: ``[backbone] freeze``: True, or the patterns of the parameters it freezes.
    :param show_progress: on rank 0: True draws bars on a terminal (one line per epoch elsewhere), ``"lines"``
        keeps to the lines, False shows nothing.
    :param listener: told of the start and of every epoch, on rank 0.
    :param command: this run as a command line, for strategies that start more processes (federated ones).
    :param local_training: builds what a federated strategy trains clients with
        (flexzoo.training.federation.HostTraining); the pipeline supplies it, as the trainer knows no epoch
        code of fine-tuning.
    :param growth: ``[[train.grow]]``: grows the model between epochs.
    """

    seed: int
    checkpoints: Checkpoints
    freeze: bool | list[str] = False
    show_progress: bool | str = True
    listener: RunListener | None = None
    command: list[str] | None = None
    local_training: Callable[..., Any] | None = None
    growth: Growing | None = None


@dataclass
class LoopState:
    """Where the epochs stand: what a checkpoint saves and a resumed run starts from."""

    epoch: int = 0  # epochs done
    step: int = 0  # optimizer steps done
    best: float | None = None  # the early-stopping metric's best value
    bad_epochs: int = 0  # epochs since it improved
    history: list[dict[str, Any]] = field(default_factory=list)
    stopped_early: bool = False

    @classmethod
    def of(cls, saved: dict[str, Any]) -> LoopState:
        """The state a checkpoint saved (its other entries, such as the fingerprints, are left out)."""
        return cls(**{f.name: saved[f.name] for f in fields(cls) if f.name in saved})

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Fitting:
    """What the epochs train with, as the fit sets it up; growth replaces ``wrapped``, ``runner`` and ``optimizer``."""

    model: nn.Module  # the unwrapped model
    wrapped: nn.Module  # as the strategy wraps it
    runner: nn.Module  # what runs the batches: ``wrapped``, compiled with [train] compile
    optimizer: torch.optim.Optimizer
    objective: Objective
    data: Dataset
    device: torch.device
    schedule: Any  # step -> learning-rate factor
    scaler: Any  # fp16's GradScaler, or None
    progress: Progress
    frozen: str  # "backbone", "some" or ""


@dataclass
class Fitted:
    """What the training stage hands on: the final full state (rank 0) and the run's record."""

    model: nn.Module  # the unwrapped model; its parameters may be sharded (see ``plain``)
    state: dict[str, torch.Tensor]  # full and unsharded on rank 0
    plain: bool  # the model's own tensors are ordinary ones holding ``state``
    history: list[dict[str, Any]]
    stopped_early: bool
    rank: int
    world_size: int
    federation: dict[str, Any] | None = None  # what a federated strategy records of its run


def _copy(tensor: torch.Tensor) -> torch.Tensor:
    """A contiguous copy (safetensors stores row-major tensors; channels_last ones are not)."""
    return tensor.clone(memory_format=torch.contiguous_format)


def compiled(module: nn.Module) -> nn.Module:
    """``torch.compile`` of the module for ``[train] compile``; it shares the module's parameters and state.

    Shapes that change (the last partial batch, validation) are compiled once more as dynamic ones,
    instead of once per size.
    """
    return torch.compile(module)  # type: ignore[return-value]


class Trainer(EpochLoop):
    """One rank's view of a run: the ``[train]`` settings, the strategy, and how this rank runs (``setup``)."""

    def __init__(self, config: TrainConfig, strategy: Strategy, setup: TrainingSetup) -> None:
        super().__init__(config, strategy, setup.seed)
        self.setup = setup
        self.run_dir = setup.checkpoints.run_dir
        self.show_progress = bool(setup.show_progress)
        self.show_bars = setup.show_progress != "lines"  # "lines": one plain line per epoch, even on a terminal
        self.listener = setup.listener
        self.growth = setup.growth

    @property
    def writer(self) -> bool:
        return self.strategy.rank == 0

    def fit(self, model: nn.Module, data: Dataset) -> Fitted:
        """Join the strategy's process group, train to the end (or an early stop), leave the group.

        ``[train] threads`` (or one thread per rank in a run of several) holds while it trains; the caller's
        thread count is back afterwards, so a model trained in this process computes as a loaded one does.
        """
        previous = torch.get_num_threads()
        try:
            return self._fit_with_strategy(model, data)
        finally:
            torch.set_num_threads(previous)

    def _fit_with_strategy(self, model: nn.Module, data: Dataset) -> Fitted:
        federate = getattr(self.strategy, "federate", None)
        self.strategy.setup()
        if federate is not None:
            try:
                return self._federated(model, data, federate)
            finally:
                self.strategy.teardown()
        try:
            return self._fit(model, data)
        except RuntimeError as exc:
            if self.strategy.world_size == 1:
                raise
            reason = re.sub(r"^\[[^\]]*\]\s*", "", (str(exc).strip().splitlines() or [type(exc).__name__])[0])
            raise FlexzooError(f"rank {self.strategy.rank}: a collective operation failed ({reason.split('. ')[0]}); "
                               "another rank has probably stopped (its own message, if any, is above)") from exc
        finally:
            self.strategy.teardown()

    def device(self) -> torch.device:
        wanted = self.config.device
        if wanted == "cuda" and not torch.cuda.is_available():
            raise ManifestKeyError("train.device", "device = \"cuda\" but torch sees no GPU here",
                                   'use device = "auto"')
        if wanted == "cpu" or not torch.cuda.is_available():
            device = torch.device("cpu")
        else:
            device = torch.device("cuda", self.strategy.local_rank % torch.cuda.device_count())
            torch.cuda.set_device(device)
        if self.config.amp == "fp16" and device.type == "cpu":
            raise ManifestKeyError("train.amp", "amp = \"fp16\" needs a GPU; this run is on the CPU",
                                   'use amp = "bf16" on the CPU')
        return device

    def _fit(self, model: nn.Module, data: Dataset) -> Fitted:
        config, strategy = self.config, self.strategy
        if config.threads:
            torch.set_num_threads(config.threads)
        elif strategy.world_size > 1:
            torch.set_num_threads(1)
        device = self.device()
        if self.growth is not None and strategy.world_size > 1:
            raise ManifestKeyError("train.grow", "[[train.grow]] runs in one process; this run has "
                                   f"{strategy.world_size}", "remove [distributed], or remove [[train.grow]]")
        checkpoint = self._checkpoint(data)
        if checkpoint and self.growth is not None:  # the checkpoint holds the grown model's weights
            self.growth.replay(model, checkpoint.state["epoch"])
        objective = self.objective(model, data)
        frozen = self._freeze(model)
        if checkpoint and not checkpoint.state.get("shards"):
            model.load_state_dict(checkpoint.model)
        model.to(device, memory_format=torch.channels_last if config.channels_last else torch.preserve_format)
        wrapped = strategy.wrap(model)
        optimizer = self._optimizer(wrapped)
        if checkpoint:
            self._restore(wrapped, optimizer, checkpoint)
        state = LoopState.of(checkpoint.state) if checkpoint else LoopState()
        steps_per_epoch = self.steps_per_epoch(len(data.train_index))
        schedule = lr_factor(config, steps_per_epoch)
        scaler = torch.amp.GradScaler("cuda") if config.amp == "fp16" else None
        progress = Progress(config.epochs, steps_per_epoch, enabled=self.show_progress and self.writer,
                            samples=min(steps_per_epoch * config.batch_size, len(data.train_index)),
                            validation_samples=len(data.validation_index), bars=self.show_bars)
        if self.listener is not None and self.writer:
            self.listener.started(strategy.world_size, state.epoch + 1)
        fitting = Fitting(model=model, wrapped=wrapped, runner=compiled(wrapped) if config.compile else wrapped,
                          optimizer=optimizer, objective=objective, data=data, device=device, schedule=schedule,
                          scaler=scaler, progress=progress, frozen=frozen)
        with CheckpointWriter() as writer, progress:
            self._epochs(fitting, state, writer)
            final_state = strategy.model_state(fitting.wrapped)
        return Fitted(model=model, state=final_state,
                      plain=all(type(p.data) is torch.Tensor for p in model.parameters()),
                      history=state.history, stopped_early=state.stopped_early,
                      rank=strategy.rank, world_size=strategy.world_size)

    def _epochs(self, fitting: Fitting, state: LoopState, writer: CheckpointWriter) -> None:
        """Train to the last epoch (or an early stop); after growth ``fitting`` holds the new wrapped model."""
        config, model, data, device = self.config, fitting.model, fitting.data, fitting.device
        while state.epoch < config.epochs and not state.stopped_early:
            epoch = state.epoch
            started = time.perf_counter()
            fitting.runner.train()
            if fitting.frozen == "backbone":
                model.backbone.eval()  # a frozen backbone keeps its normalization statistics too
            train_loss, state.step = self.train_epoch(fitting.runner, fitting.objective, fitting.optimizer, data,
                                                      device, epoch, state.step, fitting.schedule, fitting.scaler,
                                                      fitting.progress)
            validation = self.validate(fitting.runner, fitting.objective, data, device, fitting.progress, epoch)
            record = {"epoch": epoch + 1, "step": state.step, "lr": fitting.optimizer.param_groups[0]["lr"],
                      "train_loss": train_loss, "validation": validation,
                      "seconds": round(time.perf_counter() - started, 4)}
            state.history.append(record)
            state.epoch = epoch + 1
            self._early_stopping(state, validation)
            if self.growth is not None and self.growth.due(state.epoch) and not state.stopped_early:
                record["grown"] = self.growth.grow(model, state.epoch)
                fitting.wrapped, fitting.optimizer = self._regrown(model, device)
                fitting.runner = compiled(fitting.wrapped) if config.compile else fitting.wrapped
            fitting.progress.epoch(record)
            if self.listener is not None and self.writer:
                self.listener.epoch_ended(record)
            if self._checkpoint_due(state):
                self._save(fitting.wrapped, fitting.optimizer, state, data, writer)
            elif self.writer:
                writer.submit_metrics(self.run_dir, state.history)

    def _regrown(self, model: nn.Module, device: torch.device) -> tuple[nn.Module, torch.optim.Optimizer]:
        """After growth: the new parameters moved, frozen as before, wrapped, and a new optimizer over them.

        The optimizer starts afresh (its moments belonged to tensors that no longer exist); the
        learning-rate schedule goes on from the current step.
        """
        model.to(device, memory_format=torch.channels_last if self.config.channels_last else torch.preserve_format)
        self._freeze(model)
        wrapped = self.strategy.wrap(model)
        return wrapped, self._optimizer(wrapped)

    def _optimizer(self, wrapped: nn.Module) -> torch.optim.Optimizer:
        """The ``[train]`` optimizer over the wrapped model's parameters, as the strategy wants it."""
        optimizer = make_optimizer(self.config, wrapped.parameters())
        wrap_optimizer = getattr(self.strategy, "wrap_optimizer", None)
        if wrap_optimizer is not None:  # e.g. ZeRO: the same optimizer with its state sharded across ranks
            optimizer = wrap_optimizer(wrapped, optimizer)
        return optimizer

    def _federated(self, model: nn.Module, data: Dataset, federate: Any) -> Fitted:
        """The strategy runs the fit (a server and its clients); this process may be either."""
        if self.setup.checkpoints.resume:
            raise FlexzooError("a federated run cannot resume: its clients keep no checkpoint; train again "
                               "without --resume")
        if self.config.threads:
            torch.set_num_threads(self.config.threads)
        history: list[dict[str, Any]] = []

        def round_ended(record: dict[str, Any]) -> None:
            record.setdefault("lr", self.config.lr)  # the clients' (base) learning rate
            history.append(record)
            if self.show_progress:
                metrics = "  ".join(f"{name} {value:.4f}" for name, value in record["validation"].items())
                print(f"round {record['epoch']}/{record['rounds']}: {metrics}  ({record['seconds']:.1f} s)",
                      flush=True)
            if self.listener is not None:
                self.listener.epoch_ended(record)

        if self.listener is not None and self.writer:
            self.listener.started(self.strategy.world_size, 1)
        if self.setup.local_training is None:
            raise FlexzooError(f"the {type(self.strategy).__name__} strategy federates, but this run was started "
                               "without local training for its clients; train through flexzoo.train or zoo train")
        local = self.setup.local_training(self.config, data, seed=self.seed, command=self.setup.command,
                                          round_ended=round_ended)
        result = federate(model, local)
        state = {name: _copy(tensor.detach()) for name, tensor in model.state_dict().items()} if result else {}
        return Fitted(model=model, state=state, plain=True, history=result["history"] if result else [],
                      stopped_early=False, rank=self.strategy.rank, world_size=self.strategy.world_size,
                      federation=result["federation"] if result else None)

    def _checkpoint_due(self, state: LoopState) -> bool:
        """Every ``checkpoint_every`` epochs, and always after the last one (the same answer on every rank)."""
        epoch = state.epoch
        return epoch % self.config.checkpoint_every == 0 or epoch == self.config.epochs or state.stopped_early

    def _freeze(self, model: nn.Module) -> str:
        try:
            names = set(frozen_parameter_names(model, self.setup.freeze))
        except FreezeProblem as exc:
            raise ManifestKeyError("backbone.freeze", exc.message, exc.hint) from None
        untrained = {head.name for head in self.config.heads if not head.weight}  # weight 0: not trained
        for name, parameter in model.named_parameters():
            parts = name.split(".")
            if name in names or (parts[0] == "heads" and parts[1] in untrained):
                parameter.requires_grad_(False)
        if not any(p.requires_grad for p in model.parameters()):
            raise ManifestKeyError("backbone.freeze", "every parameter is frozen: nothing would be trained",
                                   "freeze fewer parameters, or add a head")
        return "backbone" if self.setup.freeze is True else ("some" if names else "")

    def _checkpoint(self, data: Dataset) -> Checkpoint | None:
        if not self.setup.checkpoints.resume:
            return None
        checkpoint = load_checkpoint(self.run_dir)
        # the number of ranks may change (an elastic run that lost a node): every rank takes its share of
        # the same global batch, and the checkpoint holds the full state
        expected = {"manifest_sha256": self.setup.checkpoints.fingerprint, "data_sha256": data.fingerprint}
        changed = [key for key, value in expected.items() if checkpoint.state.get(key) != value]
        if changed:
            what = {"manifest_sha256": "the manifest", "data_sha256": "the data"}
            raise FlexzooError(f"cannot resume from {self.run_dir}: {' and '.join(what[k] for k in changed)} changed "
                               "since the checkpoint was written; resume with the same setup, or train again "
                               "without --resume")
        return checkpoint

    def _restore(self, wrapped: nn.Module, optimizer: torch.optim.Optimizer, checkpoint: Checkpoint) -> None:
        """The optimizer's state (and, from a sharded checkpoint, the model's) as the checkpoint holds it."""
        shards = checkpoint.state.get("shards")
        if not shards:
            self.strategy.load_optimizer_state(wrapped, optimizer, checkpoint.optimizer)
            return
        load_sharded = getattr(self.strategy, "load_sharded", None)
        if load_sharded is None:
            raise FlexzooError(f"cannot resume from {self.run_dir}: its checkpoint is sharded ({shards}/, written by "
                               f"a sharding strategy) and [distributed] use = {type(self.strategy).__name__} cannot "
                               "read it; resume with the strategy that wrote it")
        load_sharded(wrapped, optimizer, self.run_dir / shards)

    def _early_stopping(self, state: LoopState, validation: dict[str, float]) -> None:
        rule = self.config.early_stopping
        if rule is None:
            return
        value = validation[rule.metric]
        if rule.improved(value, state.best):
            state.best, state.bad_epochs = value, 0
        else:
            state.bad_epochs += 1
            state.stopped_early = state.bad_epochs >= rule.patience

    def _save(self, wrapped: nn.Module, optimizer: torch.optim.Optimizer, state: LoopState,
              data: Dataset, writer: CheckpointWriter) -> None:
        """Snapshot the run (collective) and hand it to the background writer on rank 0.

        A strategy with ``save_sharded`` (FSDP) has every rank write its shards to a new
        ``shards-<epoch>/`` folder; the checkpoint file then holds the loop state and names that
        folder, so that replacing it atomically switches to the new shards (older ones are removed after).
        """
        meta: dict[str, Any] = {"manifest_sha256": self.setup.checkpoints.fingerprint, "data_sha256": data.fingerprint,
                                "world_size": self.strategy.world_size}
        save_sharded = getattr(self.strategy, "save_sharded", None)
        if save_sharded is not None:
            meta["shards"] = f"{SHARDS_PREFIX}{state.epoch:06d}"
            writer.wait()  # the last write removes the shard folders it does not name: not these
            save_sharded(wrapped, optimizer, self.run_dir / meta["shards"])  # every rank writes its shards
            model_state, optimizer_state = {}, {}
        else:
            model_state = self.strategy.model_state(wrapped)  # every rank takes part
            optimizer_state = self.strategy.optimizer_state(wrapped, optimizer)
        if self.writer:
            plain, tensors = split_tensors(optimizer_state)  # clones below: training goes on changing them
            snapshot = Checkpoint({name: _copy(tensor) for name, tensor in model_state.items()},
                                  join_tensors(plain, {name: _copy(tensor) for name, tensor in tensors.items()}),
                                  {**state.as_dict(), **meta})
            writer.submit(self.run_dir, snapshot)
