"""``[train.adversarial]``: validated like every section (file, line, key, fix), resolved explicitly, applied in the
loop and recorded in the artifact."""

from __future__ import annotations

import pytest

import flexzoo
from flexzoo import FlexzooError, ManifestError, load_manifest
from flexzoo.testing import read_artifact

MANIFEST = """
[model]
name = "digits-adv"
seed = 0
input_shape = [1, 8, 8]

[backbone]
use = "cnn"
channels = [4, 8]

[heads.digit]
use = "linear"
num_classes = 10

[train]
data = "digits"
epochs = 1
batch_size = 128

[train.adversarial]
"""


def _validate(manifest_file, extra: str):
    return load_manifest(manifest_file(MANIFEST + extra))


@pytest.mark.parametrize(("extra", "key", "message"), [
    ("method = \"pgd\"\n", "train.adversarial.epsilon", "epsilon"),
    ("epsilon = 1.5\n", "train.adversarial.epsilon", "1.5"),
    ("epsilon = 0.1\nmethod = \"cw\"\n", "train.adversarial.method", "cw"),
    ("epsilon = 0.1\nratio = 0\n", "train.adversarial.ratio", "ratio"),
    ("epsilon = 0.1\nmethod = \"fgsm\"\nsteps = 5\n", "train.adversarial.steps", "fgsm takes one step"),
    ("epsilon = 0.1\nhead = \"digits\"\n", "train.adversarial.head", "names no head"),
    ("epsilon = 0.1\nepsilom = 0.2\n", "train.adversarial.epsilom", "epsilom"),
])
def test_a_bad_adversarial_section_names_the_key_and_the_fix(manifest_file, extra, key, message):
    with pytest.raises(ManifestError) as caught:
        _validate(manifest_file, extra)
    text = str(caught.value)
    assert key in text and message in text and "fix:" in text and "model.toml:" in text, text


def test_mixup_and_adversarial_examples_do_not_mix(manifest_file):
    with pytest.raises(ManifestError, match="mixup/cutmix mix the labels"):
        load_manifest(manifest_file(MANIFEST.replace("[train.adversarial]\n", "[train.augment]\nmixup = 0.2\n"
                                                        "\n[train.adversarial]\n") + "epsilon = 0.1\n"))


def test_the_head_and_pgd_step_are_resolved_and_stored(manifest_file):
    train = _validate(manifest_file, "epsilon = 0.1\n").train
    assert train["adversarial"] == {"method": "pgd", "epsilon": 0.1, "steps": 10, "step_size": pytest.approx(0.025),
                                    "ratio": 0.5, "head": "digit"}
    fgsm = _validate(manifest_file, "epsilon = 0.1\nmethod = \"fgsm\"\n").train["adversarial"]
    assert (fgsm["steps"], fgsm["step_size"]) == (1, 0.1)


@pytest.mark.slow
def test_an_adversarial_training_run_records_itself(manifest_file, tmp_path):
    path = manifest_file(MANIFEST + "epsilon = 0.1\nsteps = 2\nratio = 1.0\n")
    artifact = flexzoo.train(path, tmp_path / "out").artifact
    info = read_artifact(artifact)
    record = info.info["training"]["adversarial"]
    assert record["method"] == "pgd" and record["epsilon"] == 0.1 and record["steps"] == 2
    assert record["space"] == "pixels in [0, 1]" and record["attack_library"] == "torchattacks"
    assert info.manifest["train"]["adversarial"]["ratio"] == 1.0


def test_arrays_outside_pixel_range_are_refused_before_training(manifest_file, tmp_path):
    import numpy as np

    np.savez(tmp_path / "wide.npz", x=np.full((64, 1, 8, 8), 3.0, np.float32), digit=np.arange(64) % 10)
    text = (MANIFEST + "epsilon = 0.1\n").replace('data = "digits"', f'data = "{tmp_path / "wide.npz"}"')
    with pytest.raises(FlexzooError,
                       match=r"pixel space \[0, 1\]"):
        flexzoo.train(manifest_file(text), tmp_path / "out")
