"""Which serving library ``zoo serve`` is built on: LitServe against flexzoo's FastAPI + uvicorn server.

``python bench/compare_serving_libraries.py``: serves the same tiny artifact (``measure_serving``'s) with
LitServe's own batching (``max_batch_size`` 32, ``batch_timeout`` 5 ms: the same limits as ``zoo serve``'s
defaults) and with ``zoo serve``, each in its own process on 127.0.0.1, and drives both with the same client
(``measure_serving``'s: one keep-alive connection per caller, one-sample JSON requests) at concurrency
1 and 32. Bounded like ``measure_serving``: at most 300 / 1200 requests or 20 s per (server,
concurrency). Prints throughput and p50/p99 latency, and the load average, because the machine is shared.
Not collected by ``bench/run.py``: it chooses a dependency once, it does not track a goal.
"""

from __future__ import annotations

import os
import platform
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from measure_serving import _free_port, _load, _percentile, _start

import flexzoo
from common import write_digits_manifest

HERE = Path(__file__).parent


def _versions() -> str:
    from importlib.metadata import version

    return ", ".join(f"{name} {version(name)}" for name in ("litserve", "fastapi", "uvicorn", "torch"))


def main() -> int:
    print(f"python {platform.python_version()}; {_versions()}; {os.cpu_count()} CPUs")
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        artifact = str(flexzoo.save(flexzoo.build(write_digits_manifest(Path(tmp))), tmp, export=False))
        servers = {
            "LitServe": (lambda port: [sys.executable, str(HERE / "litserve_server.py"), artifact, str(port), "32",
                                       "0.005"], "/predict"),
            "zoo serve (FastAPI)": (lambda port: [sys.executable, "-m", "flexzoo", "serve", artifact, "--port",
                                                  str(port), "--max-batch-size", "32", "--max-wait-ms", "5"],
                                    "/v1/models/bench/predict"),
        }
        for name, (command, path) in servers.items():
            port = _free_port()
            process = _start(command(port), port)
            try:
                for concurrency in (1, 32):
                    results[name, concurrency] = _load(port, path, concurrency)
                    print(f"  {name} c={concurrency} done; load average {os.getloadavg()[0]:.2f}", flush=True)
            finally:
                process.terminate()
                process.wait(60)
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"{'server':<22}{'c':>4}{'requests':>10}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}")
    for (name, concurrency), (throughput, latencies) in results.items():
        print(f"{name:<22}{concurrency:>4}{len(latencies):>10}{throughput:>9.1f}"
              f"{_percentile(latencies, 0.5) * 1000:>9.2f}{_percentile(latencies, 0.99) * 1000:>9.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
