"""Steps that train on the manifest's [train] data: the fine-tune after pruning, and distillation."""

from __future__ import annotations

import pytest
import torch

import flexzoo
from flexzoo import ManifestError
from flexzoo.pipeline.stages import Pipeline, train
from flexzoo.testing import read_artifact

DIGITS = """
[model]
name = "{name}"
input_shape = [1, 8, 8]

[backbone]
use = "cnn"
channels = {channels}

[heads.digit]
use = "linear"
num_classes = 10

[train]
data = "digits"
epochs = {epochs}
batch_size = 64
optimizer = "adamw"
lr = 0.01

[train.heads.digit]
loss = "cross_entropy"
"""


def write(tmp_path, name: str, channels: str = "[8, 16]", epochs: int = 2, steps: str = ""):
    path = tmp_path / f"{name}.toml"
    path.write_text(DIGITS.format(name=name, channels=channels, epochs=epochs) + steps)
    return path


def outputs(model):
    with torch.no_grad():
        return model(torch.randn(4, 1, 8, 8, generator=torch.Generator().manual_seed(3)))["digit"]


@pytest.mark.slow
def test_pruning_fine_tune_recovers_accuracy_and_reloads(tmp_path, registry):
    steps = '[[compress]]\nuse = "prune_channels"\namount = 0.5\nfine_tune_epochs = 1\n'
    result = train(flexzoo.load_manifest(write(tmp_path, "pruned", steps=steps), registry), tmp_path,
                   registry, show_progress=False)
    info = read_artifact(result.artifact).info
    record = info["compression"]["steps"][0]["record"]
    assert [h["epoch"] for h in record["fine_tune"]] == [1]
    accuracy = info["compression"]["report"]["accuracy"]["digit.accuracy"]
    assert accuracy["after"] == pytest.approx(record["fine_tune"][0]["validation"]["digit.accuracy"])
    assert accuracy["before"] > 0.8 and accuracy["after"] > 0.5  # chance is 0.1: fine-tuned back from pruning
    assert torch.equal(outputs(result.model), outputs(flexzoo.load(result.artifact, registry)))


@pytest.mark.slow
def test_distilled_student_learns_from_its_teacher(tmp_path, registry):
    teacher = train(flexzoo.load_manifest(write(tmp_path, "teacher", "[16, 32]"), registry), tmp_path, registry,
                    show_progress=False)
    steps = '[[compress]]\nuse = "distill"\nteacher = "teacher.safetensors"\nepochs = 6\n'
    manifest = flexzoo.load_manifest(write(tmp_path, "student", "[4, 8]", steps=steps), registry)
    student = flexzoo.build(manifest, registry)
    record = student.compression.steps[0].record()
    assert record["teacher"]["weights_sha256"] == read_artifact(teacher.artifact).weights_sha256
    assert record["epochs"] == 6
    assert Pipeline(manifest).evaluate(student)["digit.accuracy"] > 0.6  # chance is 0.1; it learned from the teacher
    saved = flexzoo.save(student, tmp_path / "out", registry)
    assert torch.equal(outputs(student), outputs(flexzoo.load(saved, registry)))


def test_distill_without_train_data_or_teacher_is_refused_at_its_key(tmp_path, registry):
    from flexzoo.assembly.builder import plan

    path = tmp_path / "student.toml"
    path.write_text(DIGITS.format(name="s", channels="[4, 8]", epochs=1)
                    + '[[compress]]\nuse = "distill"\nteacher = "missing.safetensors"\n')
    with pytest.raises(ManifestError, match=r"\[compress\[0\]\.teacher\] compress:distill: `teacher` no teacher "
                                            r"artifact at .*missing\.safetensors"):
        plan(flexzoo.load_manifest(path, registry), registry)
    text = path.read_text()
    path.write_text(text[: text.index("[train]")] + text[text.index("[[compress]]"):])
    with pytest.raises(ManifestError, match=r"distillation trains on the manifest's \[train\] data"):
        plan(flexzoo.load_manifest(path, registry), registry)
