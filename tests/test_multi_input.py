"""Models of several inputs: [inputs.<name>] with their own backbones, joined by [fusion] before the heads."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import onnxruntime
import pytest
import torch

import flexzoo
from flexzoo import ManifestError, load_manifest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
TRAIN = """
[train]
data = "arrays:two.npz"
epochs = 12
batch_size = 64
optimizer = "adamw"
lr = 0.01
"""
FUSED = """
[model]
name = "fused"

[inputs.image]
shape = [1, 8, 8]
backbone = { use = "mlp", widths = [64] }

[inputs.table]
shape = [4]
backbone = { use = "mlp", widths = [16] }

[fusion]
use = "FUSION"

[heads.label]
use = "mlp"
num_classes = 10
hidden = [64]
"""
SINGLE = """
[model]
name = "only-NAME"
input_shape = SHAPE

[backbone]
use = "mlp"
widths = WIDTHS

[heads.label]
use = "mlp"
num_classes = 10
hidden = [64]
"""


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / f"{name}.toml"
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def two_inputs(tmp_path_factory) -> Path:
    """The example's data: a digit image and a shift code; the label needs both."""
    spec = importlib.util.spec_from_file_location("make_multi_input", EXAMPLES / "make_multi_input.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    folder = tmp_path_factory.mktemp("two")
    module.make_two_inputs(folder / "two.npz")
    return folder


@pytest.mark.slow
def test_the_fused_model_beats_each_input_alone_reloads_and_exports(two_inputs):
    fused = flexzoo.train(_write(two_inputs, "fused", FUSED.replace("FUSION", "concat") + TRAIN
                                 + '\n[export]\nformats = ["onnx"]\n'), two_inputs / "out")
    alone = {}
    for name, shape, widths in (("image", [1, 8, 8], [64]), ("table", [4], [16])):
        text = SINGLE.replace("NAME", name).replace("SHAPE", str(shape)).replace("WIDTHS", str(widths))
        result = flexzoo.train(_write(two_inputs, name, text + TRAIN + f'\n[train.source]\ninputs = "{name}"\n'),
                               two_inputs / "out")
        alone[name] = result.history[-1]["validation"]["label.accuracy"]
    accuracy = fused.history[-1]["validation"]["label.accuracy"]
    print(f"fused {accuracy:.4f}, image alone {alone['image']:.4f}, table alone {alone['table']:.4f}")
    assert accuracy >= 0.85
    assert accuracy > max(alone.values()) + 0.4  # one input leaves the digit or the shift unknown

    data = np.load(two_inputs / "two.npz")
    image, table = torch.from_numpy(data["image"][:50]), torch.from_numpy(data["table"][:50])
    reloaded = flexzoo.load(fused.artifact)
    with torch.no_grad():
        expected = fused.model.eval()(image, table)["label"]
        assert torch.equal(reloaded({"image": image, "table": table})["label"], expected)
        assert torch.equal(reloaded(image, table)["label"], expected)
    session = onnxruntime.InferenceSession(str(fused.exports[0]["path"]), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["image", "table"]
    (onnx_label,) = session.run(["label"], {"image": image.numpy(), "table": table.numpy()})
    assert np.abs(onnx_label - expected.numpy()).max() < 1e-4


@pytest.mark.parametrize("fusion", ["sum", "attention"])
def test_sum_and_attention_fusions_build_and_take_a_dict_or_tensors_in_order(tmp_path, fusion):
    text = FUSED.replace("FUSION", fusion).replace('use = "sum"', 'use = "sum"\nwidth = 12')
    model = flexzoo.build(_write(tmp_path, "fused", text)).eval()
    assert model.backbone.num_features == (12 if fusion == "sum" else 64)
    image, table = torch.rand(3, 1, 8, 8), torch.rand(3, 4)
    with torch.no_grad():
        positional = model(image, table)["label"]
        assert torch.equal(model({"table": table, "image": image})["label"], positional)
        assert not torch.equal(model(image, torch.rand(3, 4))["label"], positional)  # the table counts
    assert positional.shape == (3, 10)


def test_a_single_input_manifest_stores_what_it_always_did(tmp_path):
    stored = load_manifest(EXAMPLES / "digits.toml").to_dict()
    assert "backbone" in stored and "inputs" not in stored and "fusion" not in stored
    fused = load_manifest(_write(tmp_path, "fused", FUSED.replace("FUSION", "concat"))).to_dict()
    assert "backbone" not in fused and list(fused["inputs"]) == ["image", "table"]
    assert fused["fusion"]["use"] == "builtin:concat"


def _problems(tmp_path: Path, text: str) -> str:
    with pytest.raises(ManifestError) as caught:
        load_manifest(_write(tmp_path, "bad", text))
    return str(caught.value)


def test_mistakes_in_inputs_and_fusion_are_named_with_the_closest_names(tmp_path):
    text = FUSED.replace("FUSION", "concta").replace("shape = [4]", "shap = [4]").replace(
        '"mlp", widths = [64]', '"mlp", widthz = [64]')
    message = _problems(tmp_path, text)
    assert "[fusion.use] unknown backbone `concta`" in message and "did you mean `concat`?" in message
    assert "[inputs.table.shap] unknown key `shap`" in message and "did you mean `shape`?" in message
    assert "[inputs.image.backbone.widthz] unknown parameter `widthz`" in message


def test_inputs_exclude_a_backbone_an_input_shape_and_a_source_without_named_arrays(tmp_path):
    text = FUSED.replace("FUSION", "concat").replace('name = "fused"', 'name = "fused"\ninput_shape = [4]')
    text += '\n[backbone]\nuse = "mlp"\n\n[train]\ndata = "digits"\n'
    message = _problems(tmp_path, text)
    assert "[backbone] and [inputs] cannot both be given" in message
    assert "[model] input_shape and [inputs] cannot both be given" in message
    assert "does not give" in message and 'data = "arrays:FILE.npz"' in message


def test_a_fusion_is_refused_as_a_backbone_and_a_backbone_as_a_fusion(tmp_path):
    assert "joins the backbones of several inputs" in _problems(
        tmp_path, SINGLE.replace("SHAPE", "[4]").replace("WIDTHS", "[8]").replace('use = "mlp"\nwidths = [8]',
                                                                               'use = "concat"'))
    assert "is a backbone, not a fusion of inputs" in _problems(tmp_path, FUSED.replace("FUSION", "cnn"))


def test_a_shape_a_branch_cannot_take_is_reported_at_that_input(tmp_path):
    text = FUSED.replace("FUSION", "concat").replace('backbone = { use = "mlp", widths = [16] }',
                                                     'backbone = { use = "cnn", channels = [4] }')
    with pytest.raises(ManifestError) as caught:
        flexzoo.build(_write(tmp_path, "bad", text))
    assert "[inputs.table.shape]" in str(caught.value)


def test_zoo_predict_on_a_model_of_several_inputs_is_one_clear_error(tmp_path):
    import subprocess
    import sys

    model = flexzoo.build(_write(tmp_path, "fused", FUSED.replace("FUSION", "concat")))
    artifact = flexzoo.save(model, tmp_path / "out")
    sample = tmp_path / "sample.npy"
    np.save(sample, np.zeros((1, 8, 8), dtype=np.float32))
    done = subprocess.run([sys.executable, "-m", "flexzoo", "predict", str(artifact), str(sample)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "the model takes several inputs (image, table)" in done.stderr
