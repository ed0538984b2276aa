"""``zoo predict -o DIR --nproc 2`` against one process on the same images: throughput, and the same results.

IMAGES 8x8 PNG digits (``FLEXZOO_BENCH_PREDICT_IMAGES``, default 20,000) on the digits CNN; each run is the whole
command (processes started, model loaded, images decoded, shards written), the best of ROUNDS alternated runs.
Goal: 2 processes >= 1.5x the throughput of 1 on a machine with 2 free cores.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import flexzoo
from common import Row, write_digits_manifest

IMAGES = int(os.environ.get("FLEXZOO_BENCH_PREDICT_IMAGES", "20000"))
ROUNDS = 2  # 1 process, 2 processes, 1, 2...: the best of each, so that a burst of load elsewhere favours neither
SMOKE = {"IMAGES": 64, "ROUNDS": 1}


def _run(artifact: Path, images: Path, out: Path, nproc: int) -> float:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(Path(flexzoo.__file__).parents[1]),
                                                                      os.environ.get("PYTHONPATH")]))}
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "flexzoo", "predict", str(artifact), str(images), "-o", str(out),
                    *(["--nproc", str(nproc)] if nproc > 1 else [])], check=True, env=env, capture_output=True)
    return time.perf_counter() - started


def measure() -> list[Row]:
    from PIL import Image
    from sklearn.datasets import load_digits

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        artifact = flexzoo.save(flexzoo.build(write_digits_manifest(folder)), folder / "out", export=False)
        images = folder / "images"
        images.mkdir()
        digits = load_digits().images
        for index in range(IMAGES):
            Image.fromarray((digits[index % len(digits)] * 15).astype(np.uint8)).save(images / f"{index:06d}.png")
        one = two = float("inf")
        for round_ in range(ROUNDS):
            one = min(one, _run(artifact, images, folder / f"one-{round_}", 1))
            two = min(two, _run(artifact, images, folder / f"two-{round_}", 2))
        same = [p.read_text() for p in sorted((folder / "one-0").glob("*.jsonl"))] == \
            [p.read_text() for p in sorted((folder / "two-0").glob("*.jsonl"))]
    return [Row("predict 2 processes vs 1: throughput", IMAGES / two, IMAGES / one, "images/s", target=1.5,
                lower_is_better=False, note=f"{IMAGES} images; results identical: {same}")]
