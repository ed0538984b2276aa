"""ONNX files as backbones: onnxruntime's outputs, trainable, and artifacts that reload only with the same file."""

from __future__ import annotations

import hashlib
import shutil
import textwrap

import numpy as np
import onnxruntime
import pytest
import torch
from onnx_files import helper_cnn

import flexzoo
import flexzoo_plugin_onnx
from flexzoo import ArtifactError, ManifestError, build
from flexzoo.testing import registry_fixture

MANIFEST = """
[model]
name = "onnx-digits"
seed = 0
input_shape = [1, 8, 8]

[backbone]
use = "onnx"
path = "{path}"
{backbone}

[heads.digit]
use = "linear"
num_classes = 10
"""

DIGITS = """
[model]
name = "digits-small"
seed = 0
input_shape = [1, 8, 8]

[backbone]
use = "cnn"
channels = [8, 16]

[heads.digit]
use = "linear"
num_classes = 10

[heads.parity]
use = "mlp"
num_classes = 2
hidden = [8]
"""

TRAIN = '\n[train]\ndata = "digits"\nepochs = 1\nbatch_size = 64\nlr = 0.01\n'


registry = registry_fixture(flexzoo_plugin_onnx)


@pytest.fixture
def manifest(tmp_path):
    def write(path, backbone: str = "", extra: str = "") -> str:
        target = tmp_path / "model.toml"
        target.write_text(MANIFEST.format(path=path, backbone=textwrap.dedent(backbone)) + extra)
        return str(target)

    return write


@pytest.fixture(scope="module")
def flexzoo_export(tmp_path_factory, registry):
    """A two-head digits model exported to ONNX by flexzoo (`zoo export`'s code path)."""
    folder = tmp_path_factory.mktemp("exported")
    (folder / "digits.toml").write_text(DIGITS)
    model = build(folder / "digits.toml", registry)
    artifact = flexzoo.save(model, folder, registry, export=False)
    (exported,) = flexzoo.export(model, artifact, ["onnx"])
    return exported["path"]


def runtime(path, x: torch.Tensor, output: str | None = None) -> np.ndarray:
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run([output] if output else None, {session.get_inputs()[0].name: x.numpy()})[0]


def test_a_graph_written_with_onnx_helper_gives_onnxruntime_outputs(manifest, registry, tmp_path):
    path = helper_cnn(tmp_path / "cnn.onnx")
    model = build(manifest(path), registry)
    x = torch.randn(5, 1, 8, 8)
    with torch.no_grad():
        features = model.backbone(x)
    np.testing.assert_allclose(features.numpy(), runtime(path, x), rtol=1e-5, atol=1e-6)
    assert model.heads["digit"][-1].in_features == 10


def test_output_cuts_the_graph_before_its_classifier(manifest, registry, tmp_path):
    path = helper_cnn(tmp_path / "cnn.onnx")
    model = build(manifest(path, 'output = "features"'), registry)
    x = torch.randn(3, 1, 8, 8)
    with torch.no_grad():
        features = model.backbone(x)
    assert features.shape == (3, 16) and model.heads["digit"][-1].in_features == 16
    cut = tmp_path / "cut.onnx"
    import onnx

    onnx.utils.extract_model(str(path), str(cut), ["x"], ["features"])
    np.testing.assert_allclose(features.numpy(), runtime(cut, x), rtol=1e-5, atol=1e-6)


def test_a_model_exported_by_flexzoo_gives_onnxruntime_outputs(manifest, registry, flexzoo_export):
    x = torch.randn(4, 1, 8, 8)
    digit = build(manifest(flexzoo_export, 'output = "digit"'), registry)
    parity = build(manifest(flexzoo_export, 'output = "parity"'), registry)
    with torch.no_grad():
        np.testing.assert_allclose(digit.backbone(x).numpy(), runtime(flexzoo_export, x, "digit"), atol=1e-5)
        np.testing.assert_allclose(parity.backbone(x).numpy(), runtime(flexzoo_export, x, "parity"), atol=1e-5)


def test_several_outputs_need_a_choice_and_the_hint_names_the_shared_features(manifest, registry, flexzoo_export):
    outputs = r"\[backbone.output\] .*the graph has 2 outputs \(digit, parity\)"
    with pytest.raises(ManifestError, match=outputs) as error:
        build(manifest(flexzoo_export), registry)
    assert "or to 'view' (what the Gemm making 'digit' takes" in str(error.value)
    model = build(manifest(flexzoo_export, 'output = "view"'), registry)
    assert model.heads["digit"][-1].in_features == 16
    misspelt = r"(?s)\[backbone.output\] .*'veiw' is no tensor of the graph.*did you mean 'view'"
    with pytest.raises(ManifestError, match=misspelt):
        build(manifest(flexzoo_export, 'output = "veiw"'), registry)


def test_every_weight_trains_and_the_artifact_reloads_identically(manifest, registry, tmp_path):
    path = helper_cnn(tmp_path / "cnn.onnx")
    source = manifest(path, 'output = "features"', TRAIN)
    untrained = build(source, registry)
    names = {name for name, _ in untrained.backbone.named_parameters()}
    assert len(names) == 4  # conv weight and bias, and the MatMul and Add constants made trainable
    result = flexzoo.train(source, tmp_path / "out", registry)
    trained = result.model.eval()
    before, after = untrained.backbone.state_dict(), trained.backbone.state_dict()
    assert all(not torch.equal(before[name], after[name]) for name in names)
    restored = flexzoo.load(result.artifact, registry)
    x = torch.randn(4, 1, 8, 8)
    with torch.no_grad():
        assert torch.equal(restored(x)["digit"], trained(x)["digit"])


def test_an_artifact_refuses_a_changed_or_missing_onnx_file(manifest, registry, tmp_path):
    path = helper_cnn(tmp_path / "cnn.onnx")
    artifact = flexzoo.save(build(manifest(path), registry), tmp_path / "out", registry, export=False)
    helper_cnn(path, seed=1)  # same graph, other constants: the file is not the one the model was made from
    with pytest.raises(ArtifactError, match=r"made from an ONNX file with sha256 \w+…, but .*cnn.onnx now has"):
        flexzoo.load(artifact, registry)
    path.unlink()
    with pytest.raises(ArtifactError, match=r"no longer builds here:\n.*\[backbone.path\] .*cnn.onnx: no such file"):
        flexzoo.load(artifact, registry)


def test_sha256_pins_the_file(manifest, registry, tmp_path):
    path = helper_cnn(tmp_path / "cnn.onnx")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert build(manifest(path, f'sha256 = "{digest}"'), registry).backbone.sha256 == digest
    shutil.copy(helper_cnn(tmp_path / "other.onnx", seed=2), path)
    with pytest.raises(ManifestError, match=rf"\[backbone.sha256\] .*is {digest}, but .*cnn.onnx has sha256"):
        build(manifest(path, f'sha256 = "{digest}"'), registry)


def test_bad_files_and_shapes_are_named(manifest, registry, tmp_path):
    path = helper_cnn(tmp_path / "cnn.onnx")
    grey = manifest(path)
    with open(grey) as file:
        text = file.read().replace("[1, 8, 8]", "[3, 8, 8]")
    (tmp_path / "rgb.toml").write_text(text)
    with pytest.raises(ManifestError, match=r"\[model.input_shape\] .*is \[3, 8, 8\], but .*cnn.onnx takes samples "
                                            r"of shape \[1, 8, 8\] \(input 'x', after the batch dimension\)"):
        build(tmp_path / "rgb.toml", registry)
    (tmp_path / "junk.onnx").write_bytes(b"not a protobuf")
    with pytest.raises(ManifestError, match=r"\[backbone.path\] .*junk.onnx is not a valid ONNX model"):
        build(manifest(tmp_path / "junk.onnx"), registry)
