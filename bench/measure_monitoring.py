"""What drift monitoring costs ``zoo serve``: throughput and p99 at concurrency 32, monitoring on vs off.

The same trained digits artifact (it records a reference profile) is served twice on 127.0.0.1, once with
the default monitoring (window 200, scored at most every 5 s off the request path) and once with
``--no-monitor``; the client is ``measure_serving``'s (one-sample JSON requests, keep-alive, bounded by
requests and seconds: REQUESTS, about 10 s at this machine's rate, so two scorings fall in every run). The runs
alternate, ROUNDS times each; each mode's median throughput and median p99 are compared.
Goals: throughput on >= 0.95x off; p99 on <= 1.05x off. ``FLEXZOO_BENCH_MONITOR_ROUNDS`` sets the rounds.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
from pathlib import Path

import measure_serving
from measure_serving import _free_port, _load, _percentile, _start

import flexzoo
from common import Row, write_digits_manifest

ROUNDS = int(os.environ.get("FLEXZOO_BENCH_MONITOR_ROUNDS", "5"))
# Long enough for steady state: windows are scored at most every 5 s, so a run of one or two seconds would charge
# a whole scoring to a handful of requests, which production spreads over 5 s of traffic.
REQUESTS = int(os.environ.get("FLEXZOO_BENCH_MONITOR_REQUESTS", "24000"))
SMOKE = {"ROUNDS": 1, "REQUESTS": 64}


def _serve(artifact: Path, extra: list[str]) -> tuple[float, list[float]]:
    measure_serving.REQUESTS = {**measure_serving.REQUESTS, 32: REQUESTS}
    measure_serving.SECONDS = 30.0
    port = _free_port()
    process = _start([sys.executable, "-m", "flexzoo", "serve", str(artifact), "--port", str(port), *extra], port)
    try:
        return _load(port, "/v1/models/bench/predict", 32)
    finally:
        process.terminate()
        process.wait(60)


def measure() -> list[Row]:
    with tempfile.TemporaryDirectory() as tmp:
        manifest = write_digits_manifest(Path(tmp), '\n[train]\ndata = "digits"\nepochs = 1\n')
        artifact = flexzoo.train(manifest, tmp).artifact
        runs: dict[str, list[tuple[float, list[float]]]] = {"on": [], "off": []}
        for _ in range(ROUNDS):
            runs["off"].append(_serve(artifact, ["--no-monitor"]))
            runs["on"].append(_serve(artifact, []))
    rate = {mode: statistics.median(rate for rate, _ in results) for mode, results in runs.items()}
    p99 = {mode: statistics.median(_percentile(latencies, 0.99) for _, latencies in results)
           for mode, results in runs.items()}
    each = {mode: ", ".join(f"{_percentile(latencies, 0.99) * 1000:.1f}" for _, latencies in results)
            for mode, results in runs.items()}
    return [Row("monitoring on: throughput c=32", rate["on"], rate["off"], "req/s", target=0.95,
                lower_is_better=False, note=f"medians of {ROUNDS} alternating runs each, {len(runs['on'][0][1])} "
                "requests per run"),
            Row("monitoring on: p99 c=32", p99["on"] * 1000, p99["off"] * 1000, "ms", target=1.05,
                note=f"p99 of each run, ms: on {each['on']}; off {each['off']}")]
