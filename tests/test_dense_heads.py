"""Feature maps and dense heads: backbones return maps to heads that take them; segmentation trains and exports."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import onnxruntime
import pytest
import torch

import flexzoo
from flexzoo import ManifestError, load_manifest
from flexzoo.assembly.builder import plan
from flexzoo.plugin import FeatureMap

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def dense_manifest(backbone: str = 'use = "cnn"\nchannels = [8, 16, 32]', heads: str = "", train: str = "",
                   input_shape: str = "[3, 16, 16]") -> str:
    return f"""
[model]
name = "shapes-seg"
seed = 0
input_shape = {input_shape}

[backbone]
{backbone}

[heads.mask]
use = "segmentation"
num_classes = 4
width = 16
{heads}
{train}
"""


def shape_masks(path: Path, count: int) -> Path:
    """The generator's images and masks, every other pixel kept (16 x 16: four times cheaper to train on)."""
    spec = importlib.util.spec_from_file_location("make_shapes", EXAMPLES / "make_shapes.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["make_shapes"] = module
    spec.loader.exec_module(module)
    full = np.load(module.make_shape_masks(path.with_name("full.npz"), count))
    np.savez(path, x=np.ascontiguousarray(full["x"][:, :, ::2, ::2]),
             mask=np.ascontiguousarray(full["mask"][:, ::2, ::2]))
    return path


def test_the_cnn_returns_its_stage_maps_to_a_head_that_takes_maps(manifest_file, registry):
    path = manifest_file(dense_manifest())
    assert plan(load_manifest(path, registry), registry).feature_maps == (
        FeatureMap("stage0", 8, 1), FeatureMap("stage1", 16, 2), FeatureMap("stage2", 32, 4))
    model = flexzoo.build(path, registry)
    with torch.no_grad():
        maps = model.backbone(torch.rand(2, 3, 16, 16))
        assert [tuple(m.shape) for m in maps.values()] == [(2, 8, 16, 16), (2, 16, 8, 8), (2, 32, 4, 4)]
        assert model(torch.rand(2, 3, 16, 16))["mask"].shape == (2, 4, 16, 16)


def test_pooled_heads_on_the_cnn_still_get_pooled_features(manifest_file, registry):
    text = dense_manifest().replace('use = "segmentation"\nnum_classes = 4\nwidth = 16',
                                    'use = "linear"\nnum_classes = 3')
    model = flexzoo.build(manifest_file(text), registry)
    assert model.backbone(torch.rand(2, 3, 16, 16)).shape == (2, 32)


def test_a_backbone_without_maps_is_refused_naming_the_head_and_the_backbone(manifest_file, registry):
    path = manifest_file(dense_manifest(backbone='use = "mlp"\nwidths = [8]'))
    with pytest.raises(ManifestError) as caught:
        plan(load_manifest(path, registry), registry)
    assert "[heads.mask] head `mask` (builtin:segmentation) takes feature maps, but the backbone builtin:mlp " \
           "returns pooled features (batch, features) only" in str(caught.value)
    assert "use a backbone that returns feature maps" in str(caught.value)


def test_heads_wanting_maps_and_pooled_features_together_are_refused(manifest_file, registry):
    path = manifest_file(dense_manifest(heads='[heads.label]\nuse = "linear"\nnum_classes = 3'))
    with pytest.raises(ManifestError) as caught:
        plan(load_manifest(path, registry), registry)
    assert "[heads.label] head `label` (builtin:linear) takes pooled features, but head `mask` " \
           "(builtin:segmentation) takes feature maps" in str(caught.value)


def test_a_class_per_sample_target_is_refused_for_a_segmentation_head(manifest_file, registry, tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "labels.npz", x=rng.random((20, 3, 16, 16), dtype=np.float32), mask=np.arange(20) % 4)
    train = f'[train]\ndata = "{tmp_path / "labels.npz"}"\nepochs = 1\n'
    with pytest.raises(flexzoo.FlexzooError) as caught:
        flexzoo.train(manifest_file(dense_manifest(train=train)), tmp_path / "out")
    assert "head `mask` returns per-pixel classes [" in str(caught.value)
    assert "target `mask` must hold one integer class per pixel, [16, 16] per sample" in str(caught.value)


@pytest.mark.slow
def test_segmentation_learns_shapes_reloads_identically_and_exports_to_onnx(manifest_file, registry, tmp_path):
    data = shape_masks(tmp_path / "masks.npz", 400)
    train = f"""
[train]
data = "{data}"
epochs = 8
batch_size = 32
optimizer = "adamw"
lr = 0.02
schedule = "cosine"

[train.heads.mask]
metrics = ["miou", "accuracy"]

[export]
formats = ["onnx"]
"""
    result = flexzoo.train(manifest_file(dense_manifest(train=train)), tmp_path / "out")
    validation = result.history[-1]["validation"]
    print(f"segmentation on shapes: mIoU {validation['mask.miou']:.3f}, pixel accuracy "
          f"{validation['mask.accuracy']:.3f}")
    assert validation["mask.miou"] > 0.5  # predicting background everywhere scores about 0.19
    loaded = flexzoo.load(result.artifact)
    images = torch.from_numpy(np.load(data)["x"][:5])
    with torch.no_grad():
        expected = result.model.eval()(images)["mask"]
        assert torch.equal(loaded(images)["mask"], expected)
    [onnx_export] = result.exports
    session = onnxruntime.InferenceSession(onnx_export["path"], providers=["CPUExecutionProvider"])
    [logits] = session.run(["mask"], {"input": images.numpy()})
    assert logits.shape == (5, 4, 16, 16)
    assert float((torch.from_numpy(logits) - expected).abs().max()) <= 1e-4


def test_predict_gives_a_class_per_pixel_for_a_segmentation_head(manifest_file, registry, tmp_path):
    from flexzoo.prediction import Predictor

    model = flexzoo.build(manifest_file(dense_manifest()), registry)
    artifact = flexzoo.save(model, tmp_path, registry)
    images = np.random.default_rng(0).random((2, 3, 16, 16), dtype=np.float32)
    [first, _] = Predictor.load(artifact, registry=registry).predict(images)
    with torch.no_grad():
        expected = model.eval()(torch.from_numpy(images))["mask"][0].argmax(dim=0)
    assert first["mask"]["mask"] == expected.tolist()
    assert sum(first["mask"]["pixels"].values()) == 16 * 16
