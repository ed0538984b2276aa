"""LoRA on a real timm Vision Transformer: adapters on the attention's qkv layers, stored alone, reloaded exactly."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors import safe_open

import flexzoo

BASE = """
[model]
name = "vit-base"
seed = 0
input_shape = [3, 32, 32]

[backbone]
use = "timm:vit_tiny_patch16_224"
img_size = 32
options = {{ depth = 2, patch_size = 8 }}

[heads.label]
use = "linear"
num_classes = 3
"""

TUNED = """
[model]
name = "vit-lora"
seed = 1

[backbone]
from = "out/vit-base.safetensors"

[heads.label]
use = "linear"
num_classes = 3

[train]
data = "shapes.npz"
epochs = 2
batch_size = 16
lr = 0.003

[train.lora]
rank = 4
alpha = 8.0
targets = ["blocks.*.attn.qkv"]
store = "adapters"
"""


@pytest.mark.slow
def test_lora_adapts_a_vit_s_attention_and_its_adapter_artifact_reloads_exactly(tmp_path):
    generator = np.random.default_rng(0)
    labels = generator.integers(0, 3, 96)
    images = generator.random((96, 3, 32, 32), dtype=np.float32) * 0.2
    for image, label in zip(images, labels):  # the class is which third of the image is bright
        image[:, :, label * 10: label * 10 + 10] += 0.8
    np.savez(tmp_path / "shapes.npz", x=images, label=labels)
    (tmp_path / "base.toml").write_text(BASE.format())
    flexzoo.save(flexzoo.build(tmp_path / "base.toml"), tmp_path / "out", export=False)
    (tmp_path / "tuned.toml").write_text(TUNED)

    result = flexzoo.train(tmp_path / "tuned.toml", tmp_path / "out")
    with safe_open(result.artifact, "pt") as stored:
        names = set(stored.keys())
    assert {n for n in names if n.startswith("backbone.")} == {
        f"backbone.blocks.{i}.attn.qkv.lora.{m}" for i in range(2) for m in ("down", "up")}
    base = flexzoo.load(tmp_path / "out" / "vit-base.safetensors")
    loaded = flexzoo.load(result.artifact)
    x = torch.from_numpy(images[:8])
    assert torch.equal(loaded(x)["label"], result.model(x)["label"])
    for i in range(2):
        delta = loaded.backbone.blocks[i].attn.qkv.weight - base.backbone.blocks[i].attn.qkv.weight
        assert 0 < torch.linalg.matrix_rank(delta).item() <= 4
        proj = loaded.backbone.blocks[i].attn.proj.weight  # not a target: the base's, untouched
        assert torch.equal(proj, base.backbone.blocks[i].attn.proj.weight)
