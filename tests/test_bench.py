"""The benchmarks cannot rot: `bench/run.py --smoke TOPIC` runs every measure module at tiny sizes.

An API change that breaks a benchmark breaks the build here, not months later in `make bench`.
The smoke's numbers mean nothing; no speed is asserted (speed targets live in bench/ as ratios).
In a whole run the smokes start in the background when the tests are collected and this test comes last
(tests/bench_smoke.py says why); run alone, it runs them itself, two at a time.
"""

from __future__ import annotations

import pytest


@pytest.mark.slow
@pytest.mark.processes
def test_every_benchmark_runs_at_smoke_sizes(bench_smoke):
    results = bench_smoke.results()
    assert len(results) >= 18  # every bench/measure_*.py
    for topic, result in results.items():
        assert result.returncode == 0, f"{topic}: {result.stderr[-4000:]}"
        assert [line.split(":")[0].removeprefix("# ") for line in result.stderr.splitlines()
                if line.startswith("# ")] == [topic]
        header, *rows = result.stdout.split("\n  * ")[0].splitlines()
        assert header.split() == ["measure", "value", "baseline", "ratio", "target", "met"]
        assert rows, f"{topic} measured nothing"
        assert "wrote" not in result.stdout  # the smoke leaves bench/results.json alone
