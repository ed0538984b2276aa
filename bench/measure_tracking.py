"""Issue 15: per-epoch time of `zoo train` with both trackers on (TensorBoard and MLflow) against none.

An epoch's time is the wall time between two consecutive ends of epoch (training, validation, the run
hooks of every plugin, the checkpoint), taken by a probe plugin; the first epoch (warm-up, tracker
start) is left out. Runs with and without tracking alternate; the medians are compared. Target: at
most 1.05 x.
"""

from __future__ import annotations

import itertools
import statistics
import tempfile
import time
import types
from pathlib import Path

import torch

import flexzoo
import flexzoo.builtin
import flexzoo_plugin_mlflow
import flexzoo_plugin_tensorboard
from common import Row
from flexzoo.host.registry import Registry
from flexzoo.manifest.validation import load_manifest
from flexzoo.pipeline.stages import train

EPOCHS = 8
ROUNDS = 3
SMOKE = {"EPOCHS": 2, "ROUNDS": 1}
# The example model without early stopping, so that every run has the same number of epochs.
MANIFEST = (Path(__file__).resolve().parents[1] / "examples" / "digits.toml").read_text().split(
    "[train.early_stopping]")[0]


def _epoch_times(directory: Path, track: list[str]) -> list[float]:
    ends: list[float] = []
    probe = types.ModuleType("probe")
    probe.flexzoo_epoch_end = flexzoo.hookimpl(lambda epoch: ends.append(time.perf_counter()))
    registry = Registry.from_modules({"builtin": flexzoo.builtin, "tensorboard": flexzoo_plugin_tensorboard,
                                      "mlflow": flexzoo_plugin_mlflow, "probe": probe})
    text = MANIFEST.replace("epochs = 8", f"epochs = {EPOCHS}") + f"\n[track]\nuse = {track!r}\n".replace("'", '"')
    directory.mkdir(parents=True)
    path = directory / "bench.toml"
    path.write_text(text)
    train(load_manifest(path, registry), directory / "out", registry)
    return [b - a for a, b in itertools.pairwise(ends)]


def measure() -> list[Row]:
    torch.set_num_threads(1)
    plain: list[float] = []
    tracked: list[float] = []
    with tempfile.TemporaryDirectory() as directory:
        for round_ in range(ROUNDS):
            plain += _epoch_times(Path(directory) / f"plain{round_}", [])
            tracked += _epoch_times(Path(directory) / f"tracked{round_}", ["tensorboard", "mlflow"])
    return [Row("train: epoch with TensorBoard + MLflow tracking", statistics.median(tracked),
                statistics.median(plain), "s", target=1.05,
                note=f"examples/digits.toml, {EPOCHS} epochs x {ROUNDS} rounds, median epoch, 1 thread")]
