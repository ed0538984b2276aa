"""`zoo train --nproc 2` under DDP: each rank's DataLoader workers read their own samples, once per epoch.

A plugin installed for the test provides a data source that logs every sample a loader worker reads
to a file of its rank; two real ranks (gloo on 127.0.0.1, started by torchrun's machinery) train on it.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.processes  # ranks: `make test-flaky` runs them 10 times

SAMPLES, HELD_OUT = 24, 4  # the last 4 samples are the validation split
TRAIN = set(range(SAMPLES - HELD_OUT))

NUMBERED = '''
import os

import numpy as np
import torch.utils.data

from flexzoo.plugin import Component, hookimpl

FLEXZOO_PLUGIN_API = 2


class Numbered:
    """Sample i is an array of i; every read in a DataLoader worker is logged to <folder>/rank<RANK>.log."""

    def __init__(self, folder, size, held_out):
        self.folder = folder
        self.held_out = held_out
        self.targets = {"label": np.arange(size) % 2}
        self.description = f"numbered ({size} samples)"

    def __len__(self):
        return len(self.targets["label"])

    def __getitem__(self, index):
        if torch.utils.data.get_worker_info() is not None:
            with open(os.path.join(self.folder, f"rank{os.environ['RANK']}.log"), "a") as log:
                log.write(f"{index}\\n")  # one short append: lines of several workers do not interleave
        return np.full((1, 4, 4), index / 24, dtype=np.float32), {"label": index % 2}


def numbered(location: str, size: int = 24, held_out: int = 4):
    """Samples numbered 0..size-1, the last `held_out` for validation; reads are logged under `location`.

    Args:
        location: the folder of the logs.
        size: samples.
        held_out: the validation samples (the last ones).
    """
    return Numbered(location, size, held_out)


@hookimpl
def flexzoo_datasets():
    return [Component("numbered", numbered)]
'''

MANIFEST = """
[model]
name = "ranks"
seed = {seed}
input_shape = [1, 4, 4]

[backbone]
use = "mlp"
widths = [8]

[heads.label]
use = "linear"
num_classes = 2

[train]
data = "numbered:reads"
epochs = 2
batch_size = 4
workers = 2
threads = 1

[distributed]
use = "ddp"
"""


def epochs_read(log: str) -> tuple[list[list[int]], list[list[int]]]:
    """A rank's reads cut at the validation passes: the training reads and the validation reads of each epoch."""
    passes: dict[bool, list[list[int]]] = {True: [], False: []}
    previous = None
    for index in map(int, log.split()):
        training = index in TRAIN
        if training != previous:  # the first read of a new pass
            passes[training].append([])
        passes[training][-1].append(index)
        previous = training
    return passes[True], passes[False]


def reads_of_a_run(zoo, run, seed: int, extra: str = "") -> dict[int, tuple[list[list[int]], list[list[int]]]]:
    (run / "reads").mkdir(parents=True)
    (run / "ranks.toml").write_text(MANIFEST.format(seed=seed).replace("threads = 1\n", f"threads = 1\n{extra}"))
    result = zoo("train", str(run / "ranks.toml"), "-o", str(run / "out"), "--nproc", "2", "-q", timeout=240)
    assert result.returncode == 0, result.stderr
    return {rank: epochs_read((run / "reads" / f"rank{rank}.log").read_text()) for rank in (0, 1)}


@pytest.mark.slow
def test_two_ddp_ranks_read_disjoint_samples_that_cover_each_epoch_once(zoo, tmp_path):
    zoo.install("flexzoo-plugin-numbered", "1.0", {"numbered": NUMBERED}, {"numbered": "numbered"},
                keywords="flexzoo-plugin-api-2")
    reads = reads_of_a_run(zoo, tmp_path / "first", seed=3)
    for epoch in (0, 1):
        first, second = (reads[rank][0][epoch] for rank in (0, 1))
        assert not set(first) & set(second)
        assert sorted(first + second) == sorted(TRAIN)  # every training sample once: none twice, none missed
        assert sorted(reads[0][1][epoch] + reads[1][1][epoch]) == list(range(SAMPLES - HELD_OUT, SAMPLES))
    assert all(len(reads[rank][0]) == 2 for rank in (0, 1))  # two epochs, nothing read after the last one
    assert set(reads[0][0][0]) != set(reads[0][0][1])  # reshuffled: rank 0 gets other samples in epoch 2
    again = reads_of_a_run(zoo, tmp_path / "again", seed=3)
    assert {rank: [sorted(e) for e in again[rank][0]] for rank in (0, 1)} == \
        {rank: [sorted(e) for e in reads[rank][0]] for rank in (0, 1)}  # the same shares for the same seed


@pytest.mark.slow
def test_two_ddp_ranks_share_a_bootstrap_sample_reading_each_drawn_index_as_often_as_drawn(zoo, tmp_path):
    import numpy as np

    from flexzoo.training.data import bootstrap_sample

    zoo.install("flexzoo-plugin-numbered", "1.0", {"numbered": NUMBERED}, {"numbered": "numbered"},
                keywords="flexzoo-plugin-api-2")
    reads = reads_of_a_run(zoo, tmp_path / "boot", seed=3, extra="bootstrap = 5\n")
    drawn = sorted(bootstrap_sample(np.arange(SAMPLES - HELD_OUT), 5).tolist())
    assert len(set(drawn)) < len(drawn)  # repeats, so some training samples are never read
    for epoch in (0, 1):
        assert sorted(reads[0][0][epoch] + reads[1][0][epoch]) == drawn  # the sample, split between the ranks
        assert sorted(reads[0][1][epoch] + reads[1][1][epoch]) == list(range(SAMPLES - HELD_OUT, SAMPLES))
