"""Training: the [train] section's validation, data sources, objectives, schedules, the loop and its artifact."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import flexzoo
from flexzoo import FlexzooError, ManifestError, load_manifest
from flexzoo.manifest.train import TrainConfig
from flexzoo.pipeline.run_hooks import run_directory
from flexzoo.pipeline.stages import train
from flexzoo.testing import manifest
from flexzoo.training.checkpoint import checkpoint_state, join_tensors, split_tensors
from flexzoo.training.optimization import lr_factor

MLP_MODEL = manifest(name="small", seed=3, backbone={"use": "mlp", "widths": [32]},
                     heads={"digit": {"use": "linear", "num_classes": 10}}).toml()

TRAIN_DIGITS = """
[train]
data = "digits"
epochs = 2
batch_size = 128
lr = 0.01
"""


def problems(error: ManifestError) -> dict[str, str]:
    return {p.key: p.render(error.file) for p in error.problems}


def test_train_section_is_resolved_with_every_default(manifest_file, registry):
    manifest = load_manifest(manifest_file(MLP_MODEL + TRAIN_DIGITS), registry)
    assert manifest.train["optimizer"] == "adamw" and manifest.train["schedule"] == "constant"
    assert manifest.train["heads"] == {"digit": {"loss": "cross_entropy", "weight": 1.0, "target": "digit",
                                                 "metrics": ["accuracy", "macro_f1"]}}
    assert manifest.to_dict()["train"] == manifest.train
    TrainConfig.from_dict(manifest.train)  # the typed view accepts what validation resolved


def test_train_errors_name_key_line_and_fix(manifest_file, registry):
    text = MLP_MODEL + """
[train]
data = "digits"
optimiser = "sgd"
schedule = "cosin"
validation_split = 1.5

[train.heads.digt]
loss = "mse"

[train.early_stopping]
metric = "digit.acuracy"
"""
    with pytest.raises(ManifestError) as caught:
        load_manifest(manifest_file(text), registry)
    found = problems(caught.value)
    assert ":16: [train.optimiser] unknown key `optimiser`" in found["train.optimiser"]
    assert "did you mean `optimizer`" in found["train.optimiser"]
    assert "did you mean `cosine`?" in found["train.schedule"]
    assert "between 0 and 1" in found["train.validation_split"]
    assert "names no head of the model" in found["train.heads.digt"] and "`digit`" in found["train.heads.digt"]
    assert "did you mean `digit.accuracy`" in found["train.early_stopping.metric"]


def test_metric_must_fit_the_heads_task(manifest_file, registry):
    text = MLP_MODEL + TRAIN_DIGITS + '[train.heads.digit]\nloss = "mse"\nmetrics = ["accuracy"]\n'
    with pytest.raises(ManifestError) as caught:
        load_manifest(manifest_file(text), registry)
    assert "does not fit a regression head" in problems(caught.value)["train.heads.digit.metrics"]


def test_unknown_data_source_is_refused(manifest_file, registry):
    with pytest.raises(ManifestError) as caught:
        load_manifest(manifest_file(MLP_MODEL + '[train]\ndata = "mnist"\n'), registry)
    assert "not a data source" in problems(caught.value)["train.data"]


def test_schedules():
    base = {"data": "digits", "validation_split": 0.2, "split_seed": 0, "inputs": "x", "epochs": 10,
            "batch_size": 8, "optimizer": "sgd", "lr": 0.1, "weight_decay": 0.0, "momentum": 0.9, "nesterov": False,
            "betas": [0.9, 0.999], "schedule": "cosine", "warmup_epochs": 1.0, "step_size": 3, "gamma": 0.5,
            "min_lr": 0.01, "clip_grad_norm": 0.0, "amp": "none", "device": "cpu", "threads": 0, "heads": {},
            "early_stopping": None}
    cosine = lr_factor(TrainConfig.from_dict(base), steps_per_epoch=10)
    assert [cosine(s) for s in (0, 4, 9)] == pytest.approx([0.1, 0.5, 1.0])  # warm-up
    assert cosine(10) == pytest.approx(1.0) and cosine(99) == pytest.approx(0.1, abs=1e-3)  # down to min_lr / lr
    step = lr_factor(TrainConfig.from_dict({**base, "schedule": "step", "warmup_epochs": 0.0}), 10)
    assert [step(s) for s in (0, 29, 30, 60)] == pytest.approx([1.0, 1.0, 0.5, 0.25])
    onecycle = lr_factor(TrainConfig.from_dict({**base, "schedule": "onecycle", "warmup_epochs": 0.0}), 10)
    assert onecycle(0) == pytest.approx(1 / 25) and onecycle(30) == pytest.approx(1.0) and onecycle(99) < 1e-3


def test_optimizer_state_survives_split_and_join():
    parameter = torch.nn.Parameter(torch.randn(3))
    optimizer = torch.optim.AdamW([parameter], lr=0.1)
    parameter.grad = torch.ones(3)
    optimizer.step()
    plain, tensors = split_tensors(optimizer.state_dict())
    json.dumps(plain)  # the rest is JSON
    restored = join_tensors(json.loads(json.dumps(plain)), tensors)
    assert torch.equal(restored["state"][0]["exp_avg"], optimizer.state_dict()["state"][0]["exp_avg"])
    assert restored["param_groups"] == optimizer.state_dict()["param_groups"]


@pytest.mark.slow
def test_training_writes_artifact_metrics_and_checkpoint(manifest_file, registry, tmp_path):
    manifest = load_manifest(manifest_file(MLP_MODEL + TRAIN_DIGITS), registry)
    result = train(manifest, tmp_path / "out", registry, show_progress=False)
    assert result.history[-1]["validation"]["digit.accuracy"] > 0.8
    lines = (run_directory(tmp_path / "out", manifest) / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2]
    artifact = flexzoo.load(result.artifact, registry)
    assert all(torch.equal(artifact.state_dict()[k], v) for k, v in result.model.state_dict().items())
    from flexzoo.artifact.format import read_artifact

    info = read_artifact(result.artifact).info
    assert info["training"]["final_validation"] == result.history[-1]["validation"]
    assert info["training"]["metrics_jsonl"].splitlines() == lines
    assert len(info["training"]["data"]["sha256"]) == 64 and info["manifest"]["train"]["epochs"] == 2
    assert checkpoint_state(run_directory(tmp_path / "out", manifest))["epoch"] == 2


@pytest.mark.slow
def test_npz_regression_and_safetensors_data(manifest_file, registry, tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 4)).astype(np.float32)
    np.savez(tmp_path / "data.npz", features=x, y=(x @ np.array([1.0, -2.0, 0.5, 0.0])).astype(np.float32),
             label=(x[:, 0] > 0).astype(np.int64))
    text = """
    [model]
    name = "tabular"
    input_shape = [4]

    [backbone]
    use = "mlp"
    widths = [16]

    [heads.y]
    use = "linear"
    num_classes = 1

    [heads.sign]
    use = "linear"
    num_classes = 2

    [train]
    data = "data.npz"
    inputs = "features"
    epochs = 3
    lr = 0.01

    [train.heads.y]
    loss = "mse"

    [train.heads.sign]
    target = "label"
    """
    manifest = load_manifest(manifest_file(text), registry)
    metrics = train(manifest, tmp_path / "out", registry, show_progress=False).history[-1]["validation"]
    assert set(metrics) == {"loss", "y.loss", "y.mse", "y.mae", "sign.loss", "sign.accuracy", "sign.macro_f1"}
    assert metrics["y.loss"] == pytest.approx(metrics["y.mse"])  # an mse head's loss is its mse
    assert metrics["loss"] == pytest.approx(metrics["y.loss"] + metrics["sign.loss"])
    from safetensors.numpy import save_file

    save_file({"x": x, "y": x[:, :1].copy(), "sign": (x[:, 0] > 0).astype(np.int64)}, tmp_path / "data.safetensors")
    text = text.replace('data = "data.npz"', 'data = "data.safetensors"').replace('inputs = "features"', "")
    text = text.replace('target = "label"', "")
    manifest = load_manifest(manifest_file(text), registry)
    assert train(manifest, tmp_path / "out2", registry, show_progress=False).history[-1]["validation"]["y.mse"] < 1.5


def test_missing_target_names_the_key_and_the_data_targets(manifest_file, registry, tmp_path):
    text = MLP_MODEL + TRAIN_DIGITS + '[train.heads.digit]\ntarget = "digits"\n'
    with pytest.raises(ManifestError) as caught:
        train(load_manifest(manifest_file(text), registry), tmp_path, registry, show_progress=False)
    message = problems(caught.value)["train.heads.digit.target"]
    assert "does not have" in message and "did you mean `digit`?" in message


def test_fp16_on_cpu_is_refused_with_a_fix(manifest_file, registry, tmp_path):
    text = MLP_MODEL + TRAIN_DIGITS + 'amp = "fp16"\ndevice = "cpu"\n'
    with pytest.raises(ManifestError) as caught:
        train(load_manifest(manifest_file(text), registry), tmp_path, registry, show_progress=False)
    assert 'use amp = "bf16"' in problems(caught.value)["train.amp"]


def test_too_few_classes_names_the_head(manifest_file, registry, tmp_path):
    text = MLP_MODEL.replace("num_classes = 10", "num_classes = 5") + TRAIN_DIGITS
    with pytest.raises(ManifestError) as caught:
        train(load_manifest(manifest_file(text), registry), tmp_path, registry, show_progress=False)
    assert "set num_classes = 10" in problems(caught.value)["heads.digit"]


def test_resume_without_checkpoint_says_what_to_do(manifest_file, registry, tmp_path):
    manifest = load_manifest(manifest_file(MLP_MODEL + TRAIN_DIGITS), registry)
    with pytest.raises(FlexzooError, match="nothing to resume"):
        train(manifest, tmp_path, registry, resume=True, show_progress=False)


@pytest.mark.slow
def test_bf16_amp_clipping_and_early_stopping(manifest_file, registry, tmp_path):
    text = MLP_MODEL + TRAIN_DIGITS.replace("epochs = 2", "epochs = 30").replace("lr = 0.01", "lr = 1e-6") + (
        'amp = "bf16"\ndevice = "cpu"\nclip_grad_norm = 0.5\noptimizer = "sgd"\n'
        '[train.early_stopping]\nmetric = "digit.accuracy"\npatience = 2\nmin_delta = 0.5\n')
    result = train(load_manifest(manifest_file(text), registry), tmp_path, registry, show_progress=False)
    assert result.stopped_early and len(result.history) == 3  # the first epoch sets the best; two more fail


@pytest.mark.slow
def test_image_folder(manifest_file, registry, tmp_path):
    from PIL import Image

    for split, count in (("train", 6), ("val", 2)):
        for label, color in (("dark", 30), ("light", 220)):
            folder = tmp_path / "images" / split / label
            folder.mkdir(parents=True)
            for index in range(count):
                Image.new("RGB", (12, 10), (color, color + index, color)).save(folder / f"{index}.png")
    text = """
    [model]
    name = "images"
    input_shape = [3, 8, 8]

    [backbone]
    use = "cnn"
    channels = [4]

    [heads.label]
    use = "linear"
    num_classes = 2

    [train]
    data = "imagefolder:images"
    epochs = 2
    batch_size = 4
    """
    result = train(load_manifest(manifest_file(text), registry), tmp_path / "out", registry, show_progress=False)
    from flexzoo.artifact.format import read_artifact

    data = read_artifact(result.artifact).info["training"]["data"]
    assert (data["train_samples"], data["validation_samples"]) == (12, 4)
    assert "2 classes: dark, light" in data["description"]
