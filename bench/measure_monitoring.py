"""What drift monitoring costs ``zoo serve``: throughput and p99 at concurrency 32, monitoring on vs off.

The same trained digits artifact (it records a reference profile) is served twice on 127.0.0.1, once with
the default monitoring (window 200, scored at most every 5 s off the request path) and once with
``--no-monitor``; the client is ``measure_serving``'s (one-sample JSON requests, keep-alive, bounded by
requests and seconds: REQUESTS, several scoring intervals). The runs alternate, ROUNDS times each, and
the best of each is kept.
Goals: throughput on >= 0.95x off; p99 on <= 1.05x off. ``FLEXZOO_BENCH_MONITOR_ROUNDS`` sets the rounds.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import measure_serving
from measure_serving import _free_port, _load, _percentile, _start

import flexzoo
from common import Row, write_digits_manifest

ROUNDS = int(os.environ.get("FLEXZOO_BENCH_MONITOR_ROUNDS", "2"))
# Long enough for steady state: windows are scored at most every 5 s, so a run of one or two seconds would charge
# a whole scoring (and its first-call warm-up) to a handful of requests, which production spreads over 5 s of traffic.
REQUESTS = int(os.environ.get("FLEXZOO_BENCH_MONITOR_REQUESTS", "8000"))
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
    best = {mode: max(results, key=lambda result: result[0]) for mode, results in runs.items()}
    p99 = {mode: min(_percentile(latencies, 0.99) for _, latencies in results) for mode, results in runs.items()}
    return [Row("monitoring on: throughput c=32", best["on"][0], best["off"][0], "req/s", target=0.95,
                lower_is_better=False, note=f"best of {ROUNDS} alternating runs each, {len(best['on'][1])} requests"),
            Row("monitoring on: p99 c=32", p99["on"] * 1000, p99["off"] * 1000, "ms", target=1.05)]
