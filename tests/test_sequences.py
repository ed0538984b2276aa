"""Sequence backbones (lstm, gru, transformer) over (steps, features): build, train, reload, export to ONNX."""

from __future__ import annotations

from pathlib import Path

import onnxruntime
import pytest
import torch

import flexzoo
from flexzoo import ManifestError, load_manifest
from flexzoo.assembly.builder import plan

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "digits_sequence.toml"


def sequence_manifest(backbone: str, input_shape: str = "[8, 8]") -> str:
    return f"""
[model]
name = "seq"
seed = 0
input_shape = {input_shape}

[backbone]
{backbone}

[heads.digit]
use = "linear"
num_classes = 10
"""


@pytest.mark.slow
def test_the_sequence_example_reads_digits_row_by_row_to_95_percent_and_exports_to_onnx(tmp_path):
    result = flexzoo.train(EXAMPLE, tmp_path)
    assert result.history[-1]["validation"]["digit.accuracy"] >= 0.95
    [onnx_export] = result.exports
    session = onnxruntime.InferenceSession(onnx_export["path"], providers=["CPUExecutionProvider"])
    rows = torch.rand(5, 8, 8)
    [logits] = session.run(["digit"], {"input": rows.numpy()})
    with torch.no_grad():
        expected = flexzoo.load(result.artifact)(rows)["digit"]
    assert float((torch.from_numpy(logits) - expected).abs().max()) <= 1e-4


@pytest.mark.slow
@pytest.mark.parametrize("backbone", [
    'use = "gru"\nhidden_size = 12\nnum_layers = 2\nbidirectional = true\npooling = "mean"',
    'use = "transformer"\nd_model = 16\nnum_heads = 2\nnum_layers = 1\npositions = "sinusoidal"\npooling = "cls"',
])
def test_artifact_reloads_identically_and_onnx_matches_it(backbone, manifest_file, registry, tmp_path):
    model = flexzoo.build(manifest_file(sequence_manifest(backbone)), registry)
    artifact = flexzoo.save(model, tmp_path, registry)
    loaded = flexzoo.load(artifact, registry)
    rows = torch.rand(4, 8, 8)
    with torch.no_grad():
        assert torch.equal(loaded(rows)["digit"], model(rows)["digit"])
    [result] = flexzoo.export(loaded, artifact, ["onnx"], registry=registry)
    session = onnxruntime.InferenceSession(result["path"], providers=["CPUExecutionProvider"])
    [logits] = session.run(["digit"], {"input": rows.numpy()})
    assert float((torch.from_numpy(logits) - model(rows)["digit"].detach()).abs().max()) <= 1e-4


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_bidirectional_features_are_the_final_states_of_both_directions(cell, manifest_file, registry):
    model = flexzoo.build(manifest_file(sequence_manifest(f'use = "{cell}"\nhidden_size = 6\nbidirectional = true')),
                          registry)
    rows = torch.rand(3, 8, 8)
    with torch.no_grad():
        features = model.backbone(rows)
        outputs, _ = model.backbone.rnn(rows)
    assert features.shape == (3, 12) and model.backbone.num_features == 12
    assert torch.allclose(features[:, :6], outputs[:, -1, :6])  # forward direction: after the last step
    assert torch.allclose(features[:, 6:], outputs[:, 0, 6:])   # backward direction: after the first step


def test_learned_positions_are_trained_and_sinusoidal_ones_are_fixed(manifest_file, registry):
    def positions(kind: str) -> tuple[bool, torch.Tensor]:
        text = sequence_manifest(f'use = "transformer"\nd_model = 8\nnum_heads = 2\npositions = "{kind}"')
        backbone = flexzoo.build(manifest_file(text), registry).backbone
        return "positions" in dict(backbone.named_parameters()), backbone.positions

    learned, _ = positions("learned")
    trained, table = positions("sinusoidal")
    assert learned and not trained
    assert torch.allclose(table[0, 0, 0::2], torch.zeros(4)) and torch.allclose(table[0, 0, 1::2], torch.ones(4))
    assert torch.allclose(table[0, 3, 0], torch.sin(torch.tensor(3.0)))


def test_an_image_shape_is_refused_with_the_sequence_shape_to_give(manifest_file, registry):
    path = manifest_file(sequence_manifest('use = "lstm"', input_shape="[1, 8, 8]"))
    with pytest.raises(ManifestError) as caught:
        plan(load_manifest(path, registry), registry)
    assert "[model.input_shape] builtin:lstm: `input_shape` must be (steps, features) for `lstm`, got [1, 8, 8]" \
        in str(caught.value)
    assert "[8, 8] for digits read row by row" in str(caught.value)


def test_heads_that_do_not_divide_the_width_are_refused_with_the_choices(manifest_file, registry):
    path = manifest_file(sequence_manifest('use = "transformer"\nd_model = 12\nnum_heads = 5'))
    with pytest.raises(ManifestError) as caught:
        plan(load_manifest(path, registry), registry)
    assert "[backbone.num_heads] builtin:transformer: `num_heads` must divide d_model = 12, got 5" in str(caught.value)
    assert "use one of [1, 2, 3, 4, 6, 12]" in str(caught.value)


def test_misspelled_parameter_and_choice_get_suggestions(manifest_file, registry):
    path = manifest_file(sequence_manifest('use = "gru"\nhiden_size = 8\npooling = "mena"'))
    with pytest.raises(ManifestError) as caught:
        load_manifest(path, registry)
    assert "did you mean `hidden_size`" in str(caught.value)
    assert "expects 'last' | 'mean'" in str(caught.value)


def test_dropout_on_one_layer_is_refused(manifest_file, registry):
    path = manifest_file(sequence_manifest('use = "lstm"\ndropout = 0.2'))
    with pytest.raises(ManifestError) as caught:
        plan(load_manifest(path, registry), registry)
    assert "[backbone.dropout]" in str(caught.value) and "set num_layers >= 2" in str(caught.value)
