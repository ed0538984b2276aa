"""K-fold splits in [train] (``folds``, ``fold``): what ``zoo tune --cv`` trains each trial's folds on."""

from __future__ import annotations

import pytest
import torch

from conftest import DIGITS
from flexzoo import ManifestError
from flexzoo.manifest.train import TrainConfig
from flexzoo.manifest.validation import load_manifest, revalidate
from flexzoo.pipeline.run_hooks import manifest_fingerprint
from flexzoo.testing import load_training_data
from flexzoo.training.data import DataError, load_dataset

MODEL = """
[model]
name = "folded"
input_shape = [1, 8, 8]

[backbone]
use = "mlp"
widths = [8]

[heads.digit]
use = "linear"
num_classes = 10

[train]
data = "digits"
"""


def problems(error: ManifestError) -> dict[str, str]:
    return {problem.key: problem.message for problem in error.problems}


def test_the_folds_partition_the_samples_once(manifest_file, registry):
    splits = [load_training_data(manifest_file(MODEL + f"folds = 3\nfold = {fold}\n"), registry)
              for fold in range(3)]
    validation = torch.cat([split.validation_index for split in splits])
    assert sorted(validation.tolist()) == list(range(1797))  # disjoint, and every sample once
    for split in splits:
        assert len(split.validation_index) in (599, 600)
        assert sorted(torch.cat([split.train_index, split.validation_index]).tolist()) == list(range(1797))
    assert len({split.fingerprint for split in splits}) == 3  # each fold's run records its own split


def test_a_manifest_without_folds_resolves_and_hashes_as_before_they_existed():
    manifest = load_manifest(DIGITS)
    assert "folds" not in manifest.train and "fold" not in manifest.train
    # pinned from the commit before the fold keys (168a84b): the checkpoint and the data split are the same
    assert manifest_fingerprint(manifest) == "189facc2d4770259dd74edc819f542e93ada61e2afc0bc53933eeb16d770e4e1"
    assert load_training_data(manifest).fingerprint == \
        "fb0fd3b1922ead4ce3b655dcca260283ee079b0b060165ff26567123b6b71e95"


def test_a_folded_manifest_stores_its_fold_and_no_validation_split(manifest_file, registry):
    manifest = load_manifest(manifest_file(MODEL + "folds = 2\nfold = 1\n"), registry)
    assert (manifest.train["folds"], manifest.train["fold"]) == (2, 1)
    assert "validation_split" not in manifest.train
    assert revalidate(manifest.to_dict(), "stored", registry).train == manifest.train  # an artifact loads again


@pytest.mark.parametrize(("keys", "key", "message"), [
    ("folds = 3\nfold = 3\n", "train.fold", "`fold = 3` is not one of the 3 folds"),
    ("fold = 1\n", "train.fold", "`fold = 1` needs cross-validation, but folds = 1"),
    ("folds = 2\nvalidation_split = 0.3\n", "train.validation_split",
     "`validation_split` and `folds` both choose the validation samples"),
])
def test_fold_keys_that_contradict_each_other_are_refused(manifest_file, registry, keys, key, message):
    with pytest.raises(ManifestError) as caught:
        load_manifest(manifest_file(MODEL + keys), registry)
    assert problems(caught.value)[key] == message


def test_more_folds_than_samples_says_to_lower_folds(manifest_file, registry, tmp_path):
    import numpy as np

    np.savez(tmp_path / "few.npz", x=np.zeros((3, 1, 8, 8), np.float32), digit=np.arange(3))
    manifest = load_manifest(manifest_file(MODEL.replace('"digits"', '"few.npz"') + "folds = 4\n"), registry)
    with pytest.raises(DataError, match=r"3 samples cannot make 4 folds; lower \[train\] folds"):
        load_dataset(TrainConfig.from_dict(manifest.train), (1, 8, 8), manifest.file)
