"""What drift monitoring costs ``zoo serve``: throughput and p99 at concurrency 32, monitoring on vs off.

The same trained digits artifact (it records a reference profile) is served twice on 127.0.0.1, once with
the default monitoring (window 200, scored at most every 5 s off the request path) and once with
``--no-monitor``; the client is ``measure_serving``'s (one-sample JSON requests, keep-alive, bounded by
requests and seconds: REQUESTS, about 10 s at this machine's rate, so two scorings fall in every run). The runs
alternate, ROUNDS times each; each mode's median throughput and median p99 are compared, and so is the CPU time the
server and its scoring child take per request (user + system, read from /proc by psutil around each run). The CPU
row is closest to what monitoring itself costs: on a shared host the wall-clock rows move by tens of percent from
one run to the next with the neighbours' load, the CPU a request takes less, though not nothing (torch's OpenMP
threads spin longer when the host takes a core away: 1.02x in one run, 1.12x in the next). Each run starts after
WARMUP_REQUESTS requests and, monitored, a first window scored: the scoring child's start-up is paid once per
server, not per request.
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

ROUNDS = int(os.environ.get("FLEXZOO_BENCH_MONITOR_ROUNDS", "5"))
# Long enough for steady state: windows are scored at most every 5 s, so a run of one or two seconds would charge
# a whole scoring to a handful of requests, which production spreads over 5 s of traffic.
REQUESTS = int(os.environ.get("FLEXZOO_BENCH_MONITOR_REQUESTS", "24000"))
WARMUP_REQUESTS = 2000
SMOKE = {"ROUNDS": 1, "REQUESTS": 64, "WARMUP_REQUESTS": 200}


def _cpu_seconds(pid: int) -> float:
    """User + system seconds of a process and its children so far."""
    processes = [psutil.Process(pid)]
    processes += processes[0].children(recursive=True)
    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


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


def _serve(artifact: Path, extra: list[str]) -> tuple[float, list[float], float]:
    """Throughput, each request's latency, and the server's CPU seconds per request."""
    measure_serving.REQUESTS = {**measure_serving.REQUESTS, 32: REQUESTS}
    measure_serving.SECONDS = 30.0
    port = _free_port()
    process = _start([sys.executable, "-m", "flexzoo", "serve", str(artifact), "--port", str(port), *extra], port)
    try:
        _warm_up(port, monitored="--no-monitor" not in extra)
        before = _cpu_seconds(process.pid)
        rate, latencies = _load(port, "/v1/models/bench/predict", 32)
        return rate, latencies, (_cpu_seconds(process.pid) - before) / len(latencies)
    finally:
        process.terminate()
        process.wait(60)


def measure() -> list[Row]:
    with tempfile.TemporaryDirectory() as tmp:
        manifest = write_digits_manifest(Path(tmp), '\n[train]\ndata = "digits"\nepochs = 1\n')
        artifact = flexzoo.train(manifest, tmp).artifact
        runs: dict[str, list[tuple[float, list[float], float]]] = {"on": [], "off": []}
        for _ in range(ROUNDS):
            runs["off"].append(_serve(artifact, ["--no-monitor"]))
            runs["on"].append(_serve(artifact, []))
    rate = {mode: statistics.median(rate for rate, _, _ in results) for mode, results in runs.items()}
    p99 = {mode: statistics.median(_percentile(latencies, 0.99) for _, latencies, _ in results)
           for mode, results in runs.items()}
    cpu = {mode: statistics.median(cpu for _, _, cpu in results) for mode, results in runs.items()}
    each = {mode: ", ".join(f"{_percentile(latencies, 0.99) * 1000:.1f}" for _, latencies, _ in results)
            for mode, results in runs.items()}
    rates = {mode: ", ".join(f"{rate:.0f}" for rate, _, _ in results) for mode, results in runs.items()}
    return [Row("monitoring on: throughput c=32", rate["on"], rate["off"], "req/s", target=0.95,
                lower_is_better=False, note=f"medians of {ROUNDS} alternating runs each, {len(runs['on'][0][1])} "
                f"requests per run; req/s of each run: on {rates['on']}; off {rates['off']}"),
            Row("monitoring on: p99 c=32", p99["on"] * 1000, p99["off"] * 1000, "ms", target=1.05,
                note=f"p99 of each run, ms: on {each['on']}; off {each['off']}"),
            Row("monitoring on: server CPU per request c=32", cpu["on"] * 1e6, cpu["off"] * 1e6, "us", target=1.05,
                note="user + system of the server and its scoring child, medians of the runs")]
