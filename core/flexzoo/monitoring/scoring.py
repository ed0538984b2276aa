"""Drift tests in a child process at the lowest CPU priority, so that scoring a window never delays a request.

Scoring a window costs tens of milliseconds of CPU every few seconds (the MMD permutation test above all, whose
matrix products would take every core's BLAS threads). Run on a thread of the server, that time lands on the requests
in flight at that moment: served digits at concurrency 32 had a p99 1.1-1.4x that of an unmonitored server while
throughput was the same (``bench/measure_monitoring.py``). A child process at nice 19, limited to one BLAS thread,
holds none of the server's GIL and gives the cores back to the server whenever the server wants them; its scores
arrive a little later, which a window scored at most every few seconds does not notice.

The child is started once (:meth:`ScoringProcess.start`, at server start-up, so that its imports are not paid during
traffic); a child that dies (killed, out of memory) is replaced on the next window.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from flexzoo.monitoring.drift import Scores, drift_scores
from flexzoo.monitoring.profile import Profile
from flexzoo.monitoring.summaries import Summaries

__all__ = ["ScoringProcess"]

log = logging.getLogger("flexzoo.monitoring")

NICE = 19  # the lowest priority: the scores wait, the requests do not


def _lowest_priority() -> None:
    """In the child: the lowest CPU priority, one BLAS thread."""
    if hasattr(os, "setpriority"):
        try:
            os.setpriority(os.PRIO_PROCESS, 0, NICE)
        except OSError:  # not permitted here: scores still come, at the server's priority
            log.debug("drift scoring process: could not lower its priority")
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)


def _ready() -> int:
    """The child's first task: nothing but its start-up (the imports above)."""
    return os.getpid()


class ScoringProcess:
    """A callable like :func:`~flexzoo.monitoring.drift.drift_scores` that runs it in the child process."""

    def __init__(self) -> None:
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def _executor(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                # spawn: the child imports only the monitoring modules, not the server's torch state
                self._pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"),
                                                 initializer=_lowest_priority)
            return self._pool

    def start(self) -> None:
        """Start the child now (its start-up then happens before traffic, not on the first window)."""
        self._executor().submit(_ready)

    def __call__(self, profile: Profile, window: Summaries, alpha: float, seed: int = 0) -> Scores:
        pool = self._executor()
        try:
            return pool.submit(drift_scores, profile, window, alpha, seed).result()
        except BrokenProcessPool:
            with self._lock:
                if self._pool is pool:  # the next window starts a new child
                    self._pool = None
            raise

    def close(self) -> None:
        """Stop the child (a window being scored is abandoned)."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
