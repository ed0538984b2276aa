"""LSUV: the data-dependent initializer brings each selected layer's output variance to 1 on [train] data."""

from __future__ import annotations

import pytest
import torch

from flexzoo import ManifestError, load_manifest
from flexzoo.pipeline.stages import Pipeline

MANIFEST = """
[model]
name = "lsuv"
seed = 0
input_shape = [1, 8, 8]

[backbone]
use = "cnn"
channels = [8, 16]
depth = 2

[heads.digit]
use = "mlp"
num_classes = 10
hidden = [32]

[[init]]
use = "{init}"
match = "{match}"
{extra}
[train]
data = "digits"
epochs = 1
"""


def pipeline(manifest_file, registry, init: str = "lsuv", match: str = "*", extra: str = "") -> Pipeline:
    text = MANIFEST.format(init=init, match=match, extra=extra)
    return Pipeline(load_manifest(manifest_file(text), registry), registry)


def layer_variances(model: torch.nn.Module, inputs: torch.Tensor, prefix: str = "") -> dict[str, float]:
    """The output variance of every convolution and linear layer under ``prefix``, in eval mode."""
    outputs: dict[str, torch.Tensor] = {}
    handles = [module.register_forward_hook(lambda _m, _a, out, name=name: outputs.__setitem__(name, out))
               for name, module in model.named_modules()
               if name.startswith(prefix) and isinstance(module, torch.nn.Conv2d | torch.nn.Linear)]
    with torch.no_grad():
        model.eval()(inputs)
    for handle in handles:
        handle.remove()
    return {name: float(output.var()) for name, output in outputs.items()}


def test_every_selected_layer_has_unit_output_variance_on_the_training_batches(manifest_file, registry):
    run = pipeline(manifest_file, registry, extra="tolerance = 0.02")
    model = run.model()
    variances = layer_variances(model, torch.cat(run.context.calibration_batches(1, 256)))
    assert len(variances) == 12  # stem, 2 x 2 x 2 block convolutions, one downsampling, 2 head layers: all of them
    assert all(abs(v - 1.0) <= 0.02 for v in variances.values()), variances


def test_unit_variance_holds_on_held_out_data(manifest_file, registry):
    run = pipeline(manifest_file, registry)
    model = run.model()
    data = run.training_data()
    held_out, _ = data.batch(data.validation_index)
    variances = layer_variances(model, held_out)
    assert all(abs(v - 1.0) <= 0.2 for v in variances.values()), variances


def test_only_the_matched_layers_are_scaled(manifest_file, registry):
    lsuv = pipeline(manifest_file, registry, match="backbone.*").model()
    inputs = torch.cat(pipeline(manifest_file, registry).context.calibration_batches(1, 256))
    backbone = layer_variances(lsuv, inputs, "backbone.")
    heads = layer_variances(lsuv, inputs, "heads.")
    assert all(abs(v - 1.0) <= 0.05 for v in backbone.values()), backbone
    assert any(abs(v - 1.0) > 0.2 for v in heads.values()), heads  # torch's default init: not unit variance


def test_the_same_manifest_gives_bit_identical_weights(manifest_file, registry):
    first = pipeline(manifest_file, registry).model().state_dict()
    second = pipeline(manifest_file, registry).model().state_dict()
    assert all(torch.equal(first[name], second[name]) for name in first)


def test_without_train_data_lsuv_is_refused_at_its_step(manifest_file, registry):
    text = MANIFEST.format(init="lsuv", match="*", extra="").split("[train]")[0]
    with pytest.raises(ManifestError) as caught:
        Pipeline(load_manifest(manifest_file(text), registry), registry).plan()
    assert "[init[0].use] builtin:lsuv: `use` lsuv measures layer outputs on the manifest's [train] data" \
        in str(caught.value)
    assert 'add a [train] section (for example data = "digits")' in str(caught.value)

