"""The benchmarks cannot rot: `bench/run.py --smoke` runs every measure module at tiny sizes.

An API change that breaks a benchmark breaks the build here, not months later in `make bench`.
The smoke's numbers mean nothing; no speed is asserted (speed targets live in bench/ as ratios).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.processes
def test_every_benchmark_runs_at_smoke_sizes():
    topics = sorted(path.stem.removeprefix("measure_") for path in (ROOT / "bench").glob("measure_*.py"))
    result = subprocess.run([sys.executable, str(ROOT / "bench" / "run.py"), "--smoke"], capture_output=True,
                            text=True, timeout=1200, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-4000:]
    assert [line.split(":")[0].removeprefix("# ") for line in result.stderr.splitlines()
            if line.startswith("# ")] == topics
    header, *rows = result.stdout.split("\n  * ")[0].splitlines()
    assert header.split() == ["measure", "value", "baseline", "ratio", "target", "met"]
    assert len(rows) >= len(topics)
    assert "wrote" not in result.stdout  # the smoke leaves bench/results.json alone
