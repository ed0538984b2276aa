"""Export: ONNX, TorchScript and torch.export programs, checked against the model; [export] validation."""

from __future__ import annotations

import onnx
import onnxruntime
import pytest
import torch

import flexzoo
from conftest import TINY_MANIFEST
from flexzoo import ManifestError
from flexzoo.cli.export import export_artifact


@pytest.fixture
def artifact(manifest_file, registry, tmp_path):
    return flexzoo.save(flexzoo.build(manifest_file(TINY_MANIFEST), registry), tmp_path / "out", registry)


def test_onnx_has_a_dynamic_batch_axis_and_one_named_output_per_head(artifact, registry):
    [result] = export_artifact(str(artifact), ["onnx"], None, 1e-4)
    graph = onnx.load(result["path"]).graph
    assert [o.name for o in graph.output] == ["digit", "parity"]
    assert graph.input[0].type.tensor_type.shape.dim[0].dim_param  # symbolic, not a fixed size
    x = torch.randn(7, 1, 8, 8)
    session = onnxruntime.InferenceSession(result["path"], providers=["CPUExecutionProvider"])
    digit, parity = session.run(["digit", "parity"], {"input": x.numpy()})
    with torch.no_grad():
        expected = flexzoo.load(artifact, registry)(x)
    assert digit.shape == (7, 10) and parity.shape == (7, 2)
    assert max(float((torch.from_numpy(a) - expected[k]).abs().max())
               for a, k in ((digit, "digit"), (parity, "parity"))) <= 1e-4
    assert result["max_abs_diff"] <= 1e-4 and result["checked_with"] == "onnxruntime"


@pytest.mark.parametrize("fmt, load", [("torchscript", lambda p: torch.jit.load(p)),
                                       ("exported-program", lambda p: torch.export.load(p).module())])
def test_torch_formats_reload_with_the_same_outputs(artifact, registry, fmt, load):
    [result] = export_artifact(str(artifact), [fmt], None, 1e-4)
    x = torch.randn(5, 1, 8, 8)
    with torch.no_grad():
        digit, parity = load(result["path"])(x)
        expected = flexzoo.load(artifact, registry)(x)
    assert torch.allclose(digit, expected["digit"]) and torch.allclose(parity, expected["parity"])


def test_build_writes_the_manifest_formats(zoo, tmp_path, manifest_file):
    path = manifest_file(TINY_MANIFEST + '\n[export]\nformats = ["onnx", "exported-program"]\n')
    result = zoo.json("build", str(path), "-o", str(tmp_path / "built"))
    assert [e["format"] for e in result["exports"]] == ["onnx", "exported-program"]
    assert sorted(p.name for p in (tmp_path / "built").iterdir()) == ["tiny.onnx", "tiny.pt2", "tiny.safetensors"]


def test_unknown_format_and_keys_are_refused_with_suggestions(manifest_file, registry):
    path = manifest_file(TINY_MANIFEST + '\n[export]\nformats = ["onnxx"]\nopset = 7\nformat = 1\n')
    with pytest.raises(ManifestError) as caught:
        flexzoo.load_manifest(path, registry)
    text = str(caught.value)
    assert "unknown export format string 'onnxx'" in text and "did you mean `onnx`?" in text
    assert "ONNX opset 7 is out of range" in text
    assert "unknown key `format` in [export]" in text and "did you mean `formats`?" in text


def test_export_of_a_missing_artifact_is_one_clear_error(zoo, tmp_path):
    result = zoo("export", str(tmp_path / "nothing.safetensors"))
    assert result.returncode == 1
    assert result.stderr.strip() == f"zoo: error: {tmp_path / 'nothing.safetensors'}: no such file"


def test_train_writes_the_manifest_formats_after_training(zoo, tmp_path, manifest_file):
    path = manifest_file(TINY_MANIFEST + '\n[train]\ndata = "digits"\nepochs = 1\n\n[train.heads.digit]\n'
                         'loss = "cross_entropy"\n\n[export]\nformats = ["onnx"]\n')
    result = zoo.json("train", str(path), "-o", str(tmp_path / "trained"))
    [onnx_export] = result["exports"]
    assert onnx_export["path"] == str(tmp_path / "trained" / "tiny.onnx") and onnx_export["max_abs_diff"] <= 1e-4
