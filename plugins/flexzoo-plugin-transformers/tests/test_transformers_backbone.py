"""transformers encoders in manifests: the same features as transformers itself with the same weights."""

from __future__ import annotations

import json

import pytest
import torch
from tiny_configs import INPUT_SHAPES, tiny_keys
from transformers import AutoConfig, AutoModel

import flexzoo_plugin_transformers
from flexzoo import build
from flexzoo.testing import registry_fixture
from flexzoo_plugin_transformers.model_list import MODELS as SHIPPED

MODELS = SHIPPED.read().details


registry = registry_fixture(flexzoo_plugin_transformers)


def toml_value(value: object) -> str:
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + " }"
    return json.dumps(value)


def manifest(tmp_path, model_type: str, keys: dict, input_shape: list[int], **more: object) -> str:
    lines = [f"{k} = {toml_value(v)}" for k, v in {**keys, **more}.items()]
    path = tmp_path / f"{model_type}.toml"
    path.write_text(f'[model]\nname = "hf"\nseed = 0\ninput_shape = {input_shape}\n\n[backbone]\n'
                    f'use = "transformers:{model_type}"\n' + "\n".join(lines) +
                    '\n\n[heads.label]\nuse = "linear"\nnum_classes = 3\n')
    return str(path)


def tiny(model_type: str) -> dict:
    default = AutoConfig.for_model(model_type)
    return tiny_keys(model_type, MODELS[model_type], lambda name: hasattr(default, name))


def sample(kind: str, batch: int = 2) -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    if kind == "text":
        return torch.randint(0, 64, (batch, *INPUT_SHAPES[kind]), generator=generator)
    return torch.randn((batch, *INPUT_SHAPES[kind]), generator=generator)


def reference_features(model: torch.nn.Module, kind: str, x: torch.Tensor) -> torch.Tensor:
    """What the factory's pool = "auto" promises, computed from transformers' own model and output."""
    output = model(**{model.main_input_name: x})
    pooler = getattr(output, "pooler_output", None)
    if pooler is not None:
        return pooler.flatten(1)
    hidden = output.last_hidden_state
    return hidden.mean(dim=1) if hidden.ndim == 3 else hidden.mean(dim=(2, 3))


def save_pretrained_tiny(model_type: str, directory, **override) -> torch.nn.Module:
    """A random tiny model of the type, written with save_pretrained (what a user's local directory holds)."""
    keys = tiny(model_type)
    values = {**{k: v for k, v in keys.items() if k != "config"}, **keys.get("config", {}), **override}
    kind = MODELS[model_type]
    if kind == "image":
        default = AutoConfig.for_model(model_type)
        if hasattr(default, "image_size"):
            values["image_size"] = [32, 32] if isinstance(default.image_size, (list, tuple)) else 32
    torch.manual_seed(7)
    model = AutoModel.from_config(AutoConfig.for_model(model_type, **values))
    model.save_pretrained(directory)
    return model


def test_every_listed_type_is_covered_and_there_are_at_least_twenty():
    assert len(MODELS) >= 20
    assert set(MODELS.values()) == {"text", "image", "audio"}


@pytest.mark.parametrize("model_type", sorted(MODELS))
def test_features_equal_transformers_with_the_weights_of_a_save_pretrained_directory(model_type, registry, tmp_path):
    kind = MODELS[model_type]
    save_pretrained_tiny(model_type, tmp_path / "weights")
    model = build(manifest(tmp_path, model_type, tiny(model_type), INPUT_SHAPES[kind],
                           pretrained=str(tmp_path / "weights")), registry).eval()
    reference = AutoModel.from_pretrained(tmp_path / "weights", local_files_only=True).eval()
    x = sample(kind)
    with torch.no_grad():
        expected = reference_features(reference, kind, x)
        features = model.backbone(x)
        difference = float((features - expected).abs().max())
        assert difference <= 1e-5, f"{model_type}: max abs diff {difference}"
        assert torch.equal(model(x)["label"], model.heads["label"](features))
    loaded, saved = model.backbone.model.state_dict(), reference.state_dict()
    assert loaded.keys() == saved.keys() and all(torch.equal(loaded[k], saved[k]) for k in saved)
