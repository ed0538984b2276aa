"""The rolling window a served model version keeps, scored against its profile off the request path.

On the request path (the thread that runs the model) a batch costs one append: the batch, the outputs and the
backbone's features (taken by a forward hook, eager runtime) are kept as the model call made them. When
``window`` samples have arrived, the window is handed to a worker that summarizes it, writes the log and runs the tests
(:func:`~flexzoo.monitoring.drift.drift_scores`). The worker scores at most one window per ``interval`` seconds,
the newest: under heavy traffic the windows completed meanwhile are logged but not scored, so monitoring costs
a bounded share of a core whatever the traffic, and never queues up.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

import numpy as np

from flexzoo.monitoring.drift import DEFAULT_ALPHA, Scores, drift_scores
from flexzoo.monitoring.log import RotatingLog
from flexzoo.monitoring.profile import Profile
from flexzoo.monitoring.summaries import Sketch, Summaries, head_summaries, input_summaries, pooled

__all__ = ["DEFAULT_WINDOW", "MonitorSettings", "VersionMonitor", "observed"]

log = logging.getLogger("flexzoo.monitoring")

DEFAULT_WINDOW = 200
_Part = tuple[float, np.ndarray, dict[str, np.ndarray], Any]  # one model call: time, batch, head outputs, features
DEFAULT_INTERVAL = 5.0
HISTORY = 100  # windows whose verdicts a monitor keeps


@dataclass(frozen=True)
class MonitorSettings:
    """How served versions are monitored: samples per window, the false-alarm level, where logs go."""

    window: int = DEFAULT_WINDOW
    alpha: float = DEFAULT_ALPHA
    interval: float = DEFAULT_INTERVAL  # seconds at least between two windows scored (windows between are skipped)
    log_dir: str | None = None
    log_max_bytes: int = 16 << 20


class VersionMonitor:
    """Summaries of one version's served samples, in windows of ``settings.window``, scored by ``executor``.

    :param heads: the classification heads monitored (those the profile describes).
    :param on_scores: called (on the worker) with each window's scores.
    :param scorer: what runs the tests (default: :func:`~flexzoo.monitoring.drift.drift_scores` on the worker;
        the server gives a :class:`~flexzoo.monitoring.scoring.ScoringProcess`).
    """

    def __init__(self, profile: Profile, heads: list[str], executor: Executor,
                 settings: MonitorSettings = MonitorSettings(),
                 on_scores: Callable[[Scores], None] = lambda scores: None, log_to: RotatingLog | None = None,
                 scorer: Callable[[Profile, Summaries, float, int], Scores] = drift_scores) -> None:
        self.profile = profile
        self.heads = [head for head in heads if head in profile.reference.heads]
        self.executor = executor
        self.settings = settings
        self.on_scores = on_scores
        self.log_to = log_to
        self.scorer = scorer
        self.sketch: Sketch | None = profile.sketch()
        self.samples = 0  # samples observed
        self.windows = 0  # windows scored
        self.skipped = 0  # completed windows replaced by a newer one while the worker was busy
        self.alarms = 0
        self.first_alarm_at: int | None = None  # samples observed when the first drifting window was complete
        self.latest: Scores | None = None
        self.history: collections.deque[dict[str, Any]] = collections.deque(maxlen=HISTORY)
        self._parts: list[_Part] = []  # the window filling
        self._filled = 0
        self._backlog: list[list[_Part]] = []  # complete windows, not yet handled
        self._lock = threading.Lock()
        self._busy = False
        self._scored_at = -float("inf")

    # -- the request path ----------------------------------------------------------------------------------------

    def summarize(self, batch: np.ndarray, outputs: dict[str, np.ndarray], features: Any = None) -> Summaries:
        """The summaries of one model call's samples (no sketch without features)."""
        sketch = None
        if features is not None and self.sketch is not None:
            vectors = pooled(features)
            if vectors.shape[1] == self.sketch.size:
                sketch = self.sketch(vectors)
        return Summaries(input_summaries(batch), sketch, head_summaries(outputs, self.heads))

    def observe(self, batch: np.ndarray, outputs: dict[str, np.ndarray], features: Any = None) -> None:
        """Keep one model call's batch, outputs and features (no copy, no computation: the request path pays only
        an append); a full window goes to the worker, which summarizes it, when it is free and due."""
        part = (time.time(), batch, {head: outputs[head] for head in self.heads}, features)
        with self._lock:
            self.samples += len(batch)
            self._parts.append(part)
            self._filled += len(batch)
            if self._filled < self.settings.window:
                return
            self._backlog.append(self._parts)
            self._parts, self._filled = [], 0
            if self._busy or time.monotonic() - self._scored_at < self.settings.interval:
                if self.log_to is None and len(self._backlog) > 1:  # only the newest window will be scored
                    self.skipped += len(self._backlog) - 1
                    del self._backlog[:-1]
                return
            self._busy, self._scored_at = True, time.monotonic()
            chunks, self._backlog = self._backlog, []
        self.executor.submit(self._work, self.samples, chunks)

    # -- the worker -------------------------------------------------------------------------------------------------

    def _summarized(self, parts: list[_Part]) -> Summaries:
        features = [part[3] for part in parts]
        joined = None if any(f is None for f in features) else np.concatenate([pooled(f) for f in features])
        return self.summarize(np.concatenate([part[1] for part in parts]),
                              {head: np.concatenate([part[2][head] for part in parts]) for head in self.heads}, joined)

    def _work(self, seen: int, chunks: list[list[_Part]]) -> None:
        """Summarize and log every chunk's samples, score the newest window."""
        try:
            if self.log_to is not None:
                for parts in chunks[:-1]:
                    self._write(parts, self._summarized(parts))
            window = self._summarized(chunks[-1])
            if self.log_to is not None:
                self._write(chunks[-1], window)
            self._score(seen, window)
            self.skipped += len(chunks) - 1
        except Exception:  # monitoring never takes the server down; the log says why
            log.exception("drift monitoring failed on a window")
        finally:
            with self._lock:
                self._busy = False

    def _score(self, seen: int, window: Summaries) -> None:
        scores = self.scorer(self.profile, window, self.settings.alpha, self.windows)
        self.windows += 1
        if scores.drift:
            self.alarms += 1
            if self.first_alarm_at is None:
                self.first_alarm_at = seen
        self.latest = scores
        self.history.append({"samples": seen, "drift": scores.drift, "drifted": scores.drifted(),
                             "time": time.time()})
        self.on_scores(scores)

    def _write(self, parts: list[_Part], window: Summaries) -> None:
        assert self.log_to is not None
        times = np.concatenate([np.full(len(part[1]), part[0]) for part in parts])
        self.log_to.write(times, np.concatenate([part[1] for part in parts]), window)

    def close(self) -> None:
        """Log the samples not logged yet, the window still filling included (at shutdown), and close the log."""
        with self._lock:
            chunks, self._backlog = self._backlog, []
            if self._parts:
                chunks.append(self._parts)
            self._parts, self._filled = [], 0
        if self.log_to is not None:
            for parts in chunks:
                self._write(parts, self._summarized(parts))
            self.log_to.close()

    def state(self) -> dict[str, Any]:
        """What ``GET /v1/models/NAME/monitor`` shows of this version."""
        return {"enabled": True, "window": self.settings.window, "alpha": self.settings.alpha,
                "samples": self.samples, "filling": self._filled, "windows": self.windows, "skipped": self.skipped,
                "alarms": self.alarms, "first_alarm_at_sample": self.first_alarm_at,
                "features": self.sketch is not None, "heads": self.heads,
                "latest": self.latest.as_dict() if self.latest is not None else None,
                "history": list(self.history)[-20:]}


def observed(run: Callable[[np.ndarray], dict[str, np.ndarray]], monitor: VersionMonitor, backbone: Any = None
             ) -> Callable[[np.ndarray], dict[str, np.ndarray]]:
    """``run`` (a model call) that also hands each batch, its outputs and, given the ``backbone`` module, its
    features to ``monitor``. A failure of the monitor is logged, never the request's."""
    captured: list[Any] = []
    if backbone is not None:
        backbone.register_forward_hook(lambda module, args, output: captured.append(output))

    def call(batch: np.ndarray) -> dict[str, np.ndarray]:
        captured.clear()
        outputs = run(batch)
        try:
            monitor.observe(batch, outputs, captured[-1] if len(captured) == 1 else None)
        except Exception:
            log.exception("drift monitoring could not summarize a batch")
        finally:
            captured.clear()
        return outputs

    return call
