"""The served models: each name has versions, one of them current; new versions are checked before use.

A new artifact for a served name is loaded beside the running version, its weights checked against their
sha256 (by ``flexzoo.load``, and against an expected digest when one is given), run on a warm-up batch
whose outputs must have the card's shapes and be finite, and only then made current, in one assignment
on the event loop: a request already dispatched finishes on the version it started on. A failed load
changes nothing. ``rollback`` makes the previous current version current again.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from flexzoo.errors import FlexzooError
from flexzoo.monitoring.drift import Scores, drift_scores
from flexzoo.monitoring.log import RotatingLog
from flexzoo.monitoring.monitor import MonitorSettings, VersionMonitor, observed
from flexzoo.monitoring.profile import Profile
from flexzoo.monitoring.summaries import Summaries
from flexzoo.prediction import Predictor
from flexzoo.serving import heap
from flexzoo.serving.batcher import Batcher
from flexzoo.serving.metrics import Metrics

__all__ = ["BatchSettings", "ModelStore", "NotFound", "ServedModel", "Version", "VersionError"]


class NotFound(FlexzooError):
    """No served model or version of that name."""


class VersionError(FlexzooError):
    """A new version was refused (the old one keeps serving), or there is none to roll back to."""


@dataclass(frozen=True)
class BatchSettings:
    max_batch_size: int = 32
    max_wait: float = 0.005


@dataclass
class Version:
    """One loaded artifact of a served model."""

    version: str
    predictor: Predictor
    batcher: Batcher
    path: Path
    loaded_at: float = field(default_factory=time.time)
    monitor: VersionMonitor | None = None  # None: monitoring off, or the artifact has no reference profile

    def monitoring(self) -> dict[str, Any]:
        """This version's drift monitoring, as ``GET /v1/models/NAME/monitor`` shows it."""
        if self.monitor is not None:
            return self.monitor.state()
        reason = ("the artifact records no reference profile (it was built without data); train it, or build it "
                  "with [train] data, to monitor drift") if self.predictor.info.profile is None else \
            "monitoring is off (zoo serve --no-monitor)"
        return {"enabled": False, "reason": reason}

    def describe(self) -> dict[str, Any]:
        choice = self.predictor.runtime_choice
        return {"version": self.version, "sha256": self.predictor.sha256, "path": str(self.path),
                "runtime": self.predictor.runtime, "runtime_choice": choice.as_dict() if choice else None,
                "loaded_at": self.loaded_at}


@dataclass
class ServedModel:
    name: str
    versions: dict[str, Version] = field(default_factory=dict)
    current: str = ""
    history: list[str] = field(default_factory=list)  # earlier current versions, most recent last
    in_flight: int = 0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def get(self, version: str | None = None) -> Version:
        chosen = version or self.current
        if chosen not in self.versions:
            raise NotFound(f"model `{self.name}` has no version `{chosen}`; versions: {', '.join(self.versions)}")
        return self.versions[chosen]

    def describe(self) -> dict[str, Any]:
        current = self.get()
        predictor = current.predictor
        return {"name": self.name, "version": self.current, "versions": [v.describe() for v in self.versions.values()],
                "previous": self.history[-1] if self.history else None,
                "input_shape": list(predictor.input_shape),
                "heads": {name: {"kind": spec.kind, "output_shape": spec.output_shape, "labels": spec.labels}
                          for name, spec in predictor.heads.items()}}


class ModelStore:
    """Every served model by name; loads run on a thread so serving continues meanwhile."""

    def __init__(self, executor: Executor, metrics: Metrics, *, runtime: str = "eager",
                 batching: BatchSettings = BatchSettings(), keep_versions: int = 3,
                 loader: Callable[[str | Path, str], Predictor] = Predictor.load,
                 monitoring: MonitorSettings | None = None, monitor_executor: Executor | None = None,
                 monitor_scorer: Callable[[Profile, Summaries, float, int], Scores] = drift_scores) -> None:
        """:param monitoring: how versions whose artifact has a reference profile are monitored (None: not at all);
        :param monitor_executor: where windows are summarized and logged (default: ``executor``);
        :param monitor_scorer: what runs a window's drift tests (default: on ``monitor_executor``)."""
        self.executor = executor
        self.monitoring = monitoring
        self.monitor_executor = monitor_executor or executor
        self.monitor_scorer = monitor_scorer
        self.metrics = metrics
        self.runtime = runtime
        self.batching = batching
        self.keep_versions = max(keep_versions, 2)
        self.loader = loader
        self.models: dict[str, ServedModel] = {}

    def get(self, name: str) -> ServedModel:
        if name not in self.models:
            served = ", ".join(self.models) or "none"
            raise NotFound(f"no model `{name}` is served; models: {served}")
        return self.models[name]

    # -- loading ----------------------------------------------------------------------------------------------

    def load_checked(self, path: str | Path, expected_sha256: str | None = None) -> Predictor:
        """Load an artifact and check it (blocking): digest, warm-up shapes, finite outputs."""
        predictor = self.loader(path, self.runtime)
        if expected_sha256 and predictor.sha256 != expected_sha256:
            raise VersionError(f"{path}: weights sha256 {predictor.sha256[:12]}… is not the expected "
                               f"{expected_sha256[:12]}…")
        warm_up = np.zeros((2, *predictor.input_shape), dtype=np.float32)
        outputs = predictor(warm_up)
        for name, spec in predictor.heads.items():
            value = outputs.get(name)
            if value is None or list(value.shape[1:]) != spec.output_shape[1:]:
                raise VersionError(f"{path}: the warm-up request gave head `{name}` an output of shape "
                                   f"{None if value is None else list(value.shape)}, the card says {spec.output_shape}")
            if not np.isfinite(value).all():
                raise VersionError(f"{path}: the warm-up request gave non-finite outputs for head `{name}`")
        return predictor

    def _version(self, model: ServedModel, predictor: Predictor, path: Path) -> Version:
        label = predictor.version
        taken = model.versions.get(label)
        if taken is not None and taken.predictor.sha256 != predictor.sha256:
            label = f"{label}+{predictor.sha256[:8]}"
        monitor = self._monitor(model.name, label, predictor)
        run = predictor if monitor is None else observed(
            predictor, monitor, predictor.model.backbone if predictor.runtime == "eager" and predictor.model else None)
        batcher = Batcher(run, self.executor, max_batch_size=self.batching.max_batch_size,
                          max_wait=self.batching.max_wait, in_flight=lambda: model.in_flight,
                          on_batch=self.metrics.batch_size.labels(model.name, label).observe)
        return Version(label, predictor, batcher, Path(path), monitor=monitor)

    def _monitor(self, name: str, label: str, predictor: Predictor) -> VersionMonitor | None:
        """A drift monitor of the version, its scores published as metrics (None: off, or no profile)."""
        stored = predictor.info.profile
        if self.monitoring is None or stored is None:
            return None
        heads = [head for head, spec in predictor.heads.items() if spec.kind == "classification"]
        settings = self.monitoring
        log_to = RotatingLog(settings.log_dir, name, label, settings.log_max_bytes) if settings.log_dir else None
        return VersionMonitor(Profile.from_dict(stored), heads, self.monitor_executor, settings,
                              on_scores=lambda scores: self.metrics.scored(name, label, scores), log_to=log_to,
                              scorer=self.monitor_scorer)

    def install(self, predictor: Predictor, path: str | Path, name: str | None = None) -> Version:
        """Serve a loaded, checked predictor as the current version of ``name`` (default: its own name)."""
        name = name or predictor.name
        model = self.models.setdefault(name, ServedModel(name))
        existing = next((v for v in model.versions.values() if v.predictor.sha256 == predictor.sha256), None)
        version = existing or self._version(model, predictor, Path(path))
        model.versions[version.version] = version
        if model.current and model.current != version.version:
            model.history.append(model.current)
        model.current = version.version
        self._forget_old(model)
        self._publish(model)
        return version

    async def load(self, path: str | Path, name: str | None = None, expected_sha256: str | None = None) -> Version:
        """Load ``path`` beside what is served, check it, then make it current; on failure nothing changes."""
        loop = asyncio.get_running_loop()
        label = name or "unknown"
        try:
            predictor = await loop.run_in_executor(None, self.load_checked, path, expected_sha256)
            if name and predictor.name != name:
                raise VersionError(f"{path} holds model `{predictor.name}`, not `{name}`")
        except Exception as exc:
            self.metrics.reloads.labels(label if label in self.models else "unknown", "failed").inc()
            if isinstance(exc, FlexzooError):
                raise VersionError(f"{exc}") from exc
            raise VersionError(f"{path}: cannot load ({type(exc).__name__}: {exc})") from exc
        lock = self.models[predictor.name].lock if predictor.name in self.models else asyncio.Lock()
        async with lock:
            version = self.install(predictor, path)
        self.metrics.reloads.labels(predictor.name, "ok").inc()
        return version

    def rollback(self, name: str) -> Version:
        """Make the previous current version of ``name`` current again."""
        model = self.get(name)
        while model.history and model.history[-1] not in model.versions:
            model.history.pop()
        if not model.history:
            raise VersionError(f"model `{name}` has no previous version to roll back to (serving {model.current})")
        model.current = model.history.pop()
        self._publish(model)
        self.metrics.reloads.labels(name, "rollback").inc()
        return model.get()

    def _forget_old(self, model: ServedModel) -> None:
        while len(model.versions) > self.keep_versions:
            oldest = next(v for v in model.versions if v != model.current)
            dropped = model.versions.pop(oldest)
            model.history = [v for v in model.history if v != oldest]
            self.metrics.version.remove(model.name, oldest, dropped.predictor.sha256)
            if dropped.monitor is not None:
                dropped.monitor.close()
            heap.release()  # what the dropped version leaves in reference cycles is collectable again...
            _close_later(dropped.batcher, then=heap.settle)  # ...and once it has served its last batch, collected

    def _publish(self, model: ServedModel) -> None:
        for label, version in model.versions.items():
            self.metrics.version.labels(model.name, label, version.predictor.sha256).set(
                1 if label == model.current else 0)

    async def close(self) -> None:
        for model in self.models.values():
            for version in model.versions.values():
                await version.batcher.close()
                if version.monitor is not None:
                    version.monitor.close()


#: The closing tasks not yet done: the loop keeps only weak references to tasks, so one that nothing else
#: holds could be collected before it has run to the end (asyncio's documentation of ``create_task``).
_CLOSING: set[asyncio.Task] = set()


def _close_later(batcher: Batcher, then: Callable[[], None] | None = None) -> None:
    """Close ``batcher`` once its queued batches are served, then call ``then`` (on the loop, after the closing
    task has let go of the batcher). Without a running loop (the initial loads) nothing runs."""
    with contextlib.suppress(RuntimeError):
        loop = asyncio.get_running_loop()
        closing = loop.create_task(batcher.close())
        _CLOSING.add(closing)
        closing.add_done_callback(_CLOSING.discard)
        if then is not None:
            closing.add_done_callback(lambda _: loop.call_soon(then))
