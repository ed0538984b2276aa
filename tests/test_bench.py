"""The benchmarks cannot rot: `bench/run.py --smoke TOPIC` runs every measure module at tiny sizes.

An API change that breaks a benchmark breaks the build here, not months later in `make bench`.
The smoke's numbers mean nothing; no speed is asserted (speed targets live in bench/ as ratios).
Each topic is a test of its own, in a process of its own, so that `make test`'s workers share them out.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"
TOPICS = sorted(path.stem.removeprefix("measure_") for path in BENCH.glob("measure_*.py"))


def test_every_measure_module_is_smoked():
    assert len(TOPICS) >= 18 and "compress" in TOPICS and "speed" in TOPICS


@pytest.mark.slow
@pytest.mark.processes
@pytest.mark.parametrize("topic", TOPICS)
def test_the_benchmark_runs_at_smoke_sizes(topic):
    result = subprocess.run([sys.executable, str(BENCH / "run.py"), "--smoke", topic], capture_output=True,
                            text=True, cwd=BENCH.parent, timeout=900)
    assert result.returncode == 0, f"{topic}: {result.stderr[-4000:]}"
    assert [line.split(":")[0].removeprefix("# ") for line in result.stderr.splitlines()
            if line.startswith("# ")] == [topic]
    header, *rows = result.stdout.split("\n  * ")[0].splitlines()
    assert header.split() == ["measure", "value", "baseline", "ratio", "target", "met"]
    assert rows, f"{topic} measured nothing"
    assert "wrote" not in result.stdout  # the smoke leaves bench/results.json alone
