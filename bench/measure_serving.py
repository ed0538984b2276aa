"""``zoo serve`` against a hand-written FastAPI endpoint on the same model, loopback only, at concurrency 1 and 32.

Each server runs in its own process; a client thread per concurrent caller keeps one HTTP/1.1
connection open and sends one-sample JSON requests. Bounded: at most REQUESTS requests or SECONDS
seconds per (server, concurrency). Goals: throughput at 32 >= 2x the hand-written one; p99 at 1 <= 1.2x.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import flexzoo
from common import Row, write_digits_manifest

HERE = Path(__file__).parent
REQUESTS = {1: 300, 32: 1200}
SECONDS = 20.0
WARMUP = 20
SMOKE = {"REQUESTS": {1: 4, 32: 32}, "SECONDS": 5.0, "WARMUP": 1}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start(command: list[str], port: int, extra_env: dict[str, str] | None = None) -> subprocess.Popen:
    paths = [str(Path(flexzoo.__file__).parents[1]), os.environ.get("PYTHONPATH")]
    env = {**os.environ, **(extra_env or {}), "PYTHONPATH": os.pathsep.join(filter(None, paths))}
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 600  # --runtime auto compiles before it listens
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"{command} did not start: {process.stderr.read().decode()[-500:]}")


def _load(port: int, path: str, concurrency: int, body: str | None = None, total: int | None = None,
          seconds: float | None = None, warmup: int | None = None) -> tuple[float, list[float]]:
    """Requests per second and each request's latency (by default: one 8x8 sample, this module's sizes)."""
    body = body or json.dumps({"inputs": [[[0.5] * 8] * 8]})
    total = total or REQUESTS[concurrency]
    latencies: list[float] = []
    counter = iter(range(total))
    lock = threading.Lock()
    stop_at = time.monotonic() + (seconds or SECONDS)

    def caller() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=300)  # a compiled model may recompile
        while time.monotonic() < stop_at:
            with lock:
                if next(counter, None) is None:
                    break
            started = time.perf_counter()
            connection.request("POST", path, body, {"Content-Type": "application/json"})
            response = connection.getresponse()
            response.read()
            assert response.status == 200, response.status
            with lock:
                latencies.append(time.perf_counter() - started)
        connection.close()

    for _ in range(WARMUP if warmup is None else warmup):
        _single(port, path, body)
    threads = [threading.Thread(target=caller) for _ in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return len(latencies) / (time.perf_counter() - started), sorted(latencies)


def _single(port: int, path: str, body: str) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=300)  # a compiled model may recompile
    connection.request("POST", path, body, {"Content-Type": "application/json"})
    connection.getresponse().read()
    connection.close()


def _percentile(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(q * len(values)))]


def measure() -> list[Row]:
    with tempfile.TemporaryDirectory() as tmp:
        artifact = flexzoo.save(flexzoo.build(write_digits_manifest(Path(tmp))), tmp, export=False)
        results = {}
        servers = {
            "zoo serve": ([sys.executable, "-m", "flexzoo", "serve", str(artifact)], "/v1/models/bench/predict"),
            "hand-written": ([sys.executable, str(HERE / "handwritten_server.py"), str(artifact)], "/predict"),
        }
        for name, (command, path) in servers.items():
            port = _free_port()
            process = _start([*command, "--port", str(port)] if name == "zoo serve" else [*command, str(port)], port)
            try:
                for concurrency in (1, 32):
                    results[name, concurrency] = _load(port, path, concurrency)
            finally:
                process.terminate()
                process.wait(60)
    rows = []
    for concurrency in (1, 32):
        (ours, our_lat), (base, base_lat) = results["zoo serve", concurrency], results["hand-written", concurrency]
        rows.append(Row(f"serve throughput c={concurrency}", ours, base, "req/s",
                        target=2.0 if concurrency == 32 else None, lower_is_better=False,
                        note=f"{len(our_lat)} and {len(base_lat)} requests" if concurrency == 32 else ""))
        for q in (0.5, 0.99):
            target = 1.2 if (concurrency == 1 and q == 0.99) else None
            rows.append(Row(f"serve p{int(q * 100)} c={concurrency}", _percentile(our_lat, q) * 1000,
                            _percentile(base_lat, q) * 1000, "ms", target=target))
    return rows
