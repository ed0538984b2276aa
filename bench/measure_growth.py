"""Issue 13 item 6: a CNN grown mid-training against the large CNN trained from the start, on digits.

Both runs train for the same epochs, with the same seed, data (scikit-learn's digits, 20 % held out),
optimizer and cosine schedule. The large CNN has channels [32, 64] and two residual blocks per stage
from the first epoch; the grown one starts at channels [16, 32] with one block per stage, and
``[[train.grow]]`` widens it twice and adds a block per stage after half of the epochs, which makes
it the same architecture (the artifact's manifest says so). Rows: the grown run's final validation
accuracy and its training time (the epochs' seconds, as metrics.jsonl records them) against the
large run's, averaged over two seeds, all in one command.

Run alone: ``PYTHONPATH=core python bench/run.py growth``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from common import Row
from flexzoo.manifest.validation import load_manifest
from flexzoo.pipeline.stages import train

EPOCHS = 12
SEEDS = (0, 1)
LARGE = ([32, 64], 2)  # channels and blocks per stage of the CNN trained large from the start
GROWN = ([16, 32], 1)  # what the grown one starts as: widened 2x and one block deeper, it is LARGE
# The smoke grows a CNN a quarter of the size: the same code path, in a fraction of the time.
SMOKE = {"EPOCHS": 2, "SEEDS": (0,), "LARGE": ([8, 16], 2), "GROWN": ([4, 8], 1)}

MANIFEST = """
[model]
name = "{name}"
seed = {seed}
input_shape = [1, 8, 8]

[backbone]
use = "cnn"
channels = {channels}
depth = {depth}

[heads.digit]
use = "linear"
num_classes = 10

[train]
data = "digits"
epochs = {epochs}
lr = 0.003
schedule = "cosine"
threads = 2
{grow}
"""

GROW = "[[train.grow]]\nat_epoch = {at_epoch}\nwiden = 2.0\ndeepen = 1\n"


def run(directory: Path, name: str, seed: int, channels: list[int], depth: int, grow: str = ""
        ) -> tuple[float, float, dict]:
    """Train one model: its final validation accuracy, its epochs' seconds, and its stored backbone."""
    path = directory / f"{name}-{seed}.toml"
    path.write_text(MANIFEST.format(name=f"{name}-{seed}", seed=seed, channels=channels, depth=depth,
                                    epochs=EPOCHS, grow=grow))
    result = train(load_manifest(path), directory / "out", show_progress=False)
    assert result.model is not None and result.model.manifest is not None
    seconds = sum(record["seconds"] for record in result.history)
    return result.history[-1]["validation"]["digit.accuracy"], seconds, result.model.manifest.backbone.params


def measure() -> list[Row]:
    large_accuracy = large_seconds = grown_accuracy = grown_seconds = 0.0
    with tempfile.TemporaryDirectory() as name:
        directory = Path(name)
        for seed in SEEDS:
            accuracy, seconds, large = run(directory, "large", seed, *LARGE)
            large_accuracy, large_seconds = large_accuracy + accuracy, large_seconds + seconds
            accuracy, seconds, grown = run(directory, "grown", seed, *GROWN, GROW.format(at_epoch=EPOCHS // 2))
            grown_accuracy, grown_seconds = grown_accuracy + accuracy, grown_seconds + seconds
            assert grown == large, f"the grown model should be the large one: {grown} vs {large}"
    runs = len(SEEDS)
    note = (f"{EPOCHS} epochs, seeds {list(SEEDS)}; large CNN {LARGE[0]} x{LARGE[1]} blocks: accuracy "
            f"{large_accuracy / runs:.4f}, {large_seconds / runs:.1f} s; grown from {GROWN[0]} x{GROWN[1]} after epoch "
            f"{EPOCHS // 2}: accuracy {grown_accuracy / runs:.4f}, {grown_seconds / runs:.1f} s")
    return [
        Row("growth: accuracy of the grown CNN vs the large one trained from the start", grown_accuracy / runs,
            large_accuracy / runs, "", target=0.99, lower_is_better=False, note=note),
        Row("growth: training time of the grown CNN vs the large one", grown_seconds / runs, large_seconds / runs,
            "s", target=0.8),
    ]


if __name__ == "__main__":
    for row in measure():
        print(row.name, row.value_text(), row.baseline_text(), f"{row.ratio:.3f}", row.note)
