"""transformers encoders through the whole pipeline: errors named, saved and loaded exactly, trained on digits."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from test_transformers_backbone import manifest, save_pretrained_tiny, tiny

import flexzoo
import flexzoo_plugin_transformers
from flexzoo import ManifestError, build
from flexzoo.testing import registry_fixture

EXAMPLE = Path(__file__).parents[3] / "examples" / "transformers_digits.toml"


registry = registry_fixture(flexzoo_plugin_transformers)


def test_a_text_artifact_reloads_identically_without_the_weights_directory(registry, tmp_path):
    save_pretrained_tiny("bert", tmp_path / "weights")
    model = build(manifest(tmp_path, "bert", tiny("bert"), [12], pretrained=str(tmp_path / "weights")), registry)
    artifact = flexzoo.save(model, tmp_path / "out", registry, export=False)
    shutil.rmtree(tmp_path / "weights")
    restored = flexzoo.load(artifact, registry)
    ids = torch.randint(0, 64, (3, 12))
    with torch.no_grad():
        assert torch.equal(restored(ids)["label"], model.eval()(ids)["label"])
        assert torch.equal(restored(ids.float())["label"], model(ids)["label"])  # float32 data holding ids


def test_text_encoders_refuse_values_that_are_not_token_ids(registry, tmp_path):
    model = build(manifest(tmp_path, "bert", tiny("bert"), [12]), registry).eval()
    with pytest.raises(ValueError, match=r"token ids must be in \[0, 64\).*from -1 to"):
        model(torch.full((1, 12), -1))
    with pytest.raises(ValueError, match="not whole numbers"):
        model(torch.full((1, 12), 0.5))


def test_a_size_key_the_config_does_not_have_is_refused_with_the_ones_it_has(registry, tmp_path):
    with pytest.raises(ManifestError, match=r"(?s)\[backbone.vocab_size\] .*is not a setting of transformers' "
                                            r"convnext config.*size keys this model type has: .*num_hidden_layers"):
        build(manifest(tmp_path, "convnext", {"vocab_size": 10}, [3, 32, 32]), registry)
    with pytest.raises(ManifestError, match=r"\[backbone.config.bogus\] .*not a setting"):
        build(manifest(tmp_path, "bert", {"config": {"bogus": 1}}, [12]), registry)
    with pytest.raises(ManifestError, match=r"\[backbone.num_attention_heads\] .*hidden_size 16 is not a multiple "
                                            r"of num_attention_heads 3"):
        build(manifest(tmp_path, "bert", {"hidden_size": 16, "num_attention_heads": 3}, [12]), registry)
    with pytest.raises(ManifestError, match=r"\[model.input_shape\] .*must be \(sequence length,\) for a text model"):
        build(manifest(tmp_path, "bert", {}, [3, 8, 8]), registry)


def test_a_directory_of_another_config_is_refused_with_what_to_write(registry, tmp_path):
    save_pretrained_tiny("bert", tmp_path / "weights", hidden_size=32)
    with pytest.raises(ManifestError) as error:
        build(manifest(tmp_path, "bert", tiny("bert"), [12], pretrained=str(tmp_path / "weights")), registry)
    message = str(error.value)
    assert "[backbone.pretrained]" in message and "hidden_size (directory 32, manifest 16)" in message
    assert "describe the directory's model in [backbone]: hidden_size = 32" in message
    with pytest.raises(ManifestError, match=r"(?s)holds a 'bert' model, not 'roberta'.*use transformers:bert"):
        build(manifest(tmp_path, "roberta", tiny("roberta"), [12], pretrained=str(tmp_path / "weights")), registry)


@pytest.mark.slow
def test_the_digits_example_trains_a_vit(registry, tmp_path):
    result = flexzoo.train(EXAMPLE, tmp_path, registry)
    accuracy = result.history[-1]["validation"]["digit.accuracy"]
    assert accuracy >= 0.8, result.summary
    restored = flexzoo.load(result.artifact, registry)
    x = torch.rand(4, 1, 8, 8)
    with torch.no_grad():
        assert torch.equal(restored(x)["digit"], result.model.eval()(x)["digit"])
