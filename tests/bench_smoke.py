"""``bench/run.py --smoke TOPIC`` for every measure module, run in the background while the rest of the suite runs.

A smoke is mostly one process waiting on another (an interpreter starting, a server answering, a rank waiting),
and the suite keeps about one of the two cores busy on average (31.9 min of CPU in 30 min of CI), so the two
overlap: tests/conftest.py starts :class:`SmokeRun` as soon as the tests are collected, one topic at a time, and
moves tests/test_bench.py's test to the end, where it collects the results. The tests that run beside it slow down,
so the overlap saves less than the smoke's 240 s; it is done by the suite's 42 % mark. Run alone (or repeated by
``make test-flaky``), the test runs the smokes itself, two at a time.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: The test that checks the smokes' results (tests/test_bench.py).
TEST_NAME = "test_every_benchmark_runs_at_smoke_sizes"
#: The smokes that take longest (about 35 to 60 s each on 2 cores, the others 10 to 30 s): they start first, so
#: that no long one is left running alone at the end.
LONGEST = ("pretrained", "training", "speed", "sharding", "compress")
TIMEOUT = 900  # seconds, per topic


def topics() -> list[str]:
    """Every measure module's topic, the longest first."""
    names = sorted(path.stem.removeprefix("measure_") for path in (ROOT / "bench").glob("measure_*.py"))
    return sorted(names, key=lambda topic: LONGEST.index(topic) if topic in LONGEST else len(LONGEST))


class SmokeRun:
    """Every topic's smoke in ``workers`` background threads, each topic its own ``run.py`` process."""

    def __init__(self, workers: int) -> None:
        self._env = dict(os.environ)  # as it is now: a test running meanwhile may change os.environ for itself
        self._lock = threading.Lock()
        self._processes: set[subprocess.Popen] = set()
        self._stopped = False
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="bench-smoke")
        self._futures: dict[str, Future] = {topic: self._pool.submit(self._smoke, topic) for topic in topics()}

    def _smoke(self, topic: str) -> subprocess.CompletedProcess:
        command = [sys.executable, str(ROOT / "bench" / "run.py"), "--smoke", topic]
        with self._lock:
            if self._stopped:
                raise RuntimeError("the bench smoke was stopped")
            process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                       cwd=ROOT, env=self._env)
            self._processes.add(process)
        try:
            stdout, stderr = process.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            stdout, stderr = process.communicate()
            stderr += f"\n(killed after {TIMEOUT} s)"
        finally:
            with self._lock:
                self._processes.discard(process)
        return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)

    def results(self) -> dict[str, subprocess.CompletedProcess]:
        """Each topic's finished run (waits for those still running)."""
        return {topic: future.result() for topic, future in self._futures.items()}

    def stop(self) -> None:
        """Cancel the topics not started and kill those running (the session ends, or was interrupted)."""
        with self._lock:
            self._stopped = True
            for process in self._processes:
                process.kill()
        self._pool.shutdown(wait=False, cancel_futures=True)
