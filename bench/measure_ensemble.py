"""Issue 13 item 4: a bagged ensemble against its best member and against one model trained on all the data.

Digits (scikit-learn's 1797 8x8 images) are cut by a seeded permutation into 1297 images that models
may train on (their ``[train]`` data: 20 % of it held out for validation by the seeded split) and 500
that no model sees, on which every model is scored. The ensemble is what ``zoo build`` makes of
``[ensemble.bagging]``: five members of one small MLP manifest, member k trained on its own bootstrap
sample of the training split; combined by ``mean`` (soft voting) and by ``vote``. The single model
is the same manifest trained on the whole training split. Each figure is the mean over three runs
(bagging seed and model seed 0, 1, 2), all in one command.

Run alone: ``PYTHONPATH=core python bench/run.py ensemble``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import load_digits

import flexzoo
from common import Row
from flexzoo.manifest.validation import load_manifest
from flexzoo.pipeline.stages import build_artifact, train

MEMBERS = 5
SEEDS = (0, 1, 2)
HELD_OUT = 500
EPOCHS = 15
SMOKE = {"MEMBERS": 2, "SEEDS": (0,), "EPOCHS": 1}

MEMBER = """
[model]
name = "mlp"
seed = {seed}
input_shape = [1, 8, 8]

[backbone]
use = "mlp"
widths = [64]

[heads.digit]
use = "linear"
num_classes = 10

[train]
data = "train.npz"
epochs = {epochs}
lr = 0.003
threads = 2
"""

ENSEMBLE = """
[model]
name = "bagged-{head}"

[ensemble]

[ensemble.bagging]
manifest = "member.toml"
count = {count}
seed = {seed}

[heads.digit]
use = "{head}"
num_classes = 10
"""


def held_out_accuracy(model: torch.nn.Module, test: dict[str, np.ndarray]) -> float:
    with torch.no_grad():
        predicted = model(torch.from_numpy(test["x"]))["digit"].argmax(dim=1)
    return float((predicted == torch.from_numpy(test["digit"])).float().mean())


def one_run(directory: Path, seed: int, test: dict[str, np.ndarray]) -> dict[str, float]:
    """Accuracies on the held-out images: each member's best, the mean and vote ensembles, the single model."""
    (directory / "member.toml").write_text(MEMBER.format(seed=seed, epochs=EPOCHS))
    scores = {}
    for head in ("mean", "vote"):  # the second build reuses the members the first one trained
        (directory / f"{head}.toml").write_text(ENSEMBLE.format(head=head, count=MEMBERS, seed=seed))
        built = build_artifact(load_manifest(directory / f"{head}.toml"), directory / "out", report="none")
        scores[head] = held_out_accuracy(flexzoo.load(built.artifact), test)
    folder = directory / "out" / "bagged-mean.members"
    scores["best member"] = max(held_out_accuracy(flexzoo.load(folder / f"mlp-{k}.safetensors"), test)
                                for k in range(MEMBERS))
    single = train(load_manifest(directory / "member.toml"), directory / "single", show_progress=False)
    assert single.model is not None
    scores["single"] = held_out_accuracy(single.model, test)
    return scores


def measure() -> list[Row]:
    bunch = load_digits()
    x, y = (bunch.images / 16.0).astype(np.float32)[:, None], bunch.target.astype(np.int64)
    order = np.random.default_rng(0).permutation(len(y))
    test = {"x": x[order[-HELD_OUT:]], "digit": y[order[-HELD_OUT:]]}
    runs = []
    for seed in SEEDS:
        with tempfile.TemporaryDirectory() as name:
            directory = Path(name)
            np.savez(directory / "train.npz", x=x[order[:-HELD_OUT]], digit=y[order[:-HELD_OUT]])
            runs.append(one_run(directory, seed, test))
    mean = {key: float(np.mean([run[key] for run in runs])) for key in runs[0]}
    note = (f"{MEMBERS} bootstrap members of an MLP [64] ({EPOCHS} epochs), {HELD_OUT} held-out digits, seeds "
            f"{list(SEEDS)}; per seed (mean, vote, best member, single): "
            + "; ".join(f"{r['mean']:.3f}, {r['vote']:.3f}, {r['best member']:.3f}, {r['single']:.3f}" for r in runs))
    return [
        Row("ensemble: bagged mean accuracy vs its best member", mean["mean"], mean["best member"], "",
            target=1.0, lower_is_better=False, note=note),
        Row("ensemble: bagged vote accuracy vs its best member", mean["vote"], mean["best member"], "",
            target=1.0, lower_is_better=False),
        Row("ensemble: bagged mean accuracy vs one model trained on all the data", mean["mean"], mean["single"], "",
            target=1.0, lower_is_better=False),
    ]


if __name__ == "__main__":
    for row in measure():
        print(row.name, row.value_text(), row.baseline_text(), f"{row.ratio:.3f}", row.note)
