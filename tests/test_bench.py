"""The benchmarks cannot rot: `bench/run.py --smoke TOPIC` runs every measure module at tiny sizes.

An API change that breaks a benchmark breaks the build here, not months later in `make bench`.
The smoke's numbers mean nothing; no speed is asserted (speed targets live in bench/ as ratios).
The topics run two at a time, each in its own `run.py`: much of a smoke is one thread (an interpreter starting,
a server answering, a rank waiting), so the second core does the next topic meanwhile.
"""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _smoke(topic: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "bench" / "run.py"), "--smoke", topic], capture_output=True,
                          text=True, timeout=900, cwd=ROOT)


@pytest.mark.slow
@pytest.mark.processes
def test_every_benchmark_runs_at_smoke_sizes():
    topics = sorted(path.stem.removeprefix("measure_") for path in (ROOT / "bench").glob("measure_*.py"))
    with ThreadPoolExecutor(2) as pool:
        results = dict(zip(topics, pool.map(_smoke, topics)))
    for topic, result in results.items():
        assert result.returncode == 0, f"{topic}: {result.stderr[-4000:]}"
        assert [line.split(":")[0].removeprefix("# ") for line in result.stderr.splitlines()
                if line.startswith("# ")] == [topic]
        header, *rows = result.stdout.split("\n  * ")[0].splitlines()
        assert header.split() == ["measure", "value", "baseline", "ratio", "target", "met"]
        assert rows, f"{topic} measured nothing"
        assert "wrote" not in result.stdout  # the smoke leaves bench/results.json alone
