"""What drift monitoring costs ``zoo serve``: throughput and p99 at concurrency 32, monitoring on vs off.

The same trained digits artifact (it records a reference profile) is served twice on 127.0.0.1, once with
the default monitoring (window 200, scored at most every 5 s off the request path) and once with
``--no-monitor``; the client is ``measure_serving``'s (one-sample JSON requests, keep-alive, bounded by
requests and seconds: REQUESTS, 6 to 10 s at this machine's rate, so one or two scorings fall in every run). Each run
is a fresh server; the runs alternate, ROUNDS times each; each mode's median throughput and median p99 are compared,
and so is the CPU time the server and its scoring child take per request (user + system, read from /proc by psutil
around each run). Fresh servers differ from one another even on a quiet host (with monitoring off, 596 to 778 us of
CPU per request over ten of them), and a shared host adds its neighbours' load, so the on/off rows need ten rounds
to resolve a few percent (five gave 1.01x in one run and 1.17x in the next). Each run starts after WARMUP_REQUESTS
requests and, monitored, a first window scored: the scoring child's start-up is paid once per server, not per
request. A last row charges scoring alone, measured inside each monitored run: the scoring child's share of the
server's CPU.
Goals: throughput on >= 0.95x off; p99 on <= 1.05x off; CPU per request on <= 1.05x off.
``FLEXZOO_BENCH_MONITOR_ROUNDS`` sets the rounds.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import measure_serving
import psutil
from measure_serving import _free_port, _load, _percentile, _start

import flexzoo
from common import Row, write_digits_manifest

ROUNDS = int(os.environ.get("FLEXZOO_BENCH_MONITOR_ROUNDS", "10"))
# Long enough for steady state: windows are scored at most every 5 s, so a run of one or two seconds would charge
# a whole scoring to a handful of requests, which production spreads over 5 s of traffic.
REQUESTS = int(os.environ.get("FLEXZOO_BENCH_MONITOR_REQUESTS", "12000"))
WARMUP_REQUESTS = 2000
SMOKE = {"ROUNDS": 1, "REQUESTS": 64, "WARMUP_REQUESTS": 200}


def _cpu_seconds(pid: int) -> tuple[float, float]:
    """User + system seconds so far of a process, and of its children (the scoring child)."""
    parent = psutil.Process(pid)
    totals = [0.0, 0.0]
    for index, process in [(0, parent), *((1, child) for child in parent.children(recursive=True))]:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        totals[index] += times.user + times.system
    return totals[0], totals[1]


def _warm_up(port: int, monitored: bool) -> None:
    """Traffic until the server is in its steady state: a first window scored, so the scoring child has started
    (its imports are a one-time cost of start-up, not of requests)."""
    deadline = time.monotonic() + 120
    while True:
        _load(port, "/v1/models/bench/predict", 32, total=WARMUP_REQUESTS)
        if not monitored:
            return
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models/bench/monitor") as answer:
            versions = json.load(answer)["versions"].values()
        if all(version["windows"] >= 1 for version in versions) or time.monotonic() > deadline:
            return


def _serve(artifact: Path, extra: list[str]) -> tuple[float, list[float], float, float]:
    """Throughput, each request's latency, the server's CPU seconds per request (its scoring child's included),
    and the scoring child's share of them."""
    measure_serving.REQUESTS = {**measure_serving.REQUESTS, 32: REQUESTS}
    measure_serving.SECONDS = 30.0
    port = _free_port()
    process = _start([sys.executable, "-m", "flexzoo", "serve", str(artifact), "--port", str(port), *extra], port)
    try:
        _warm_up(port, monitored="--no-monitor" not in extra)
        before = _cpu_seconds(process.pid)
        rate, latencies = _load(port, "/v1/models/bench/predict", 32)
        server, child = (after - earlier for after, earlier in zip(_cpu_seconds(process.pid), before))
        return rate, latencies, (server + child) / len(latencies), child / (server + child)
    finally:
        process.terminate()
        process.wait(60)


def measure() -> list[Row]:
    with tempfile.TemporaryDirectory() as tmp:
        manifest = write_digits_manifest(Path(tmp), '\n[train]\ndata = "digits"\nepochs = 1\n')
        artifact = flexzoo.train(manifest, tmp).artifact
        runs: dict[str, list[tuple[float, list[float], float, float]]] = {"on": [], "off": []}
        for _ in range(ROUNDS):
            runs["off"].append(_serve(artifact, ["--no-monitor"]))
            runs["on"].append(_serve(artifact, []))
    rate = {mode: statistics.median(result[0] for result in results) for mode, results in runs.items()}
    p99 = {mode: statistics.median(_percentile(result[1], 0.99) for result in results)
           for mode, results in runs.items()}
    cpu = {mode: statistics.median(result[2] for result in results) for mode, results in runs.items()}
    each = {mode: ", ".join(f"{_percentile(result[1], 0.99) * 1000:.1f}" for result in results)
            for mode, results in runs.items()}
    rates = {mode: ", ".join(f"{result[0]:.0f}" for result in results) for mode, results in runs.items()}
    cpus = {mode: ", ".join(f"{result[2] * 1e6:.0f}" for result in results) for mode, results in runs.items()}
    scoring = statistics.median(result[3] for result in runs["on"])
    return [Row("monitoring on: throughput c=32", rate["on"], rate["off"], "req/s", target=0.95,
                lower_is_better=False, note=f"medians of {ROUNDS} alternating runs each, {len(runs['on'][0][1])} "
                f"requests per run; req/s of each run: on {rates['on']}; off {rates['off']}"),
            Row("monitoring on: p99 c=32", p99["on"] * 1000, p99["off"] * 1000, "ms", target=1.05,
                note=f"p99 of each run, ms: on {each['on']}; off {each['off']}"),
            Row("monitoring on: server CPU per request c=32", cpu["on"] * 1e6, cpu["off"] * 1e6, "us", target=1.05,
                note=f"user + system of the server and its scoring child, medians of the runs; us of each run: on "
                     f"{cpus['on']}; off {cpus['off']}"),
            Row("monitoring on: scoring child's share of the server's CPU c=32", scoring * 100, None, "%",
                note="what scoring the windows takes, apart from the request path (median of the monitored runs); "
                     "every window of the bench's constant input drifts, so each takes the full permutation count")]
