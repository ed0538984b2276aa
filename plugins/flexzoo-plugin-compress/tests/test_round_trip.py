"""Each compressor really compresses, and its artifact rebuilds with identical outputs."""

from __future__ import annotations

import pytest
import torch

import flexzoo
from flexzoo.testing import read_artifact

TINY = """
[model]
name = "tiny"
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
hidden = [32]
"""


def build_and_reload(tmp_path, registry, steps: str, manifest: str = TINY, report: str = "none"):
    path = tmp_path / "model.toml"
    path.write_text(manifest + steps)
    model = flexzoo.build(path, registry, report=report)
    saved = flexzoo.save(model, tmp_path / "out", registry)
    loaded = flexzoo.load(saved, registry)
    again = flexzoo.save(loaded, tmp_path / "again", registry)  # a loaded model saves the same records
    assert read_artifact(again).compression_steps == read_artifact(saved).compression_steps
    return model, saved, flexzoo.load(again, registry)


def outputs(model, dtype=torch.float32, shape=(1, 8, 8)):
    x = torch.randn(5, *shape, generator=torch.Generator().manual_seed(1)).to(dtype)
    with torch.no_grad():
        return model(x)


def assert_identical(model, loaded, dtype=torch.float32, shape=(1, 8, 8)):
    expected, actual = outputs(model, dtype, shape), outputs(loaded, dtype, shape)
    assert expected.keys() == actual.keys()
    for key in expected:
        assert torch.equal(expected[key], actual[key]), key


def test_prune_channels_shrinks_layers_and_reloads(tmp_path, registry):
    steps = '[[compress]]\nuse = "prune_channels"\namount = 0.5\n'
    model, saved, loaded = build_and_reload(tmp_path, registry, steps)
    assert model.backbone.stem[0].out_channels == 4 and model.backbone.num_features == 8
    assert model.heads["digit"][0].in_features == 8 and model.heads["digit"][0].out_features == 10
    before, after = read_artifact(saved).compression_steps[0]["record"]["parameters"]
    assert after < 0.35 * before
    assert_identical(model, loaded)


def test_prune_l1_zeroes_weights_without_masks(tmp_path, registry):
    model, saved, loaded = build_and_reload(tmp_path, registry, '[[compress]]\nuse = "prune_l1"\namount = 0.6\n')
    assert not any("mask" in name or "orig" in name for name in model.state_dict())
    assert read_artifact(saved).compression_steps[0]["record"]["sparsity"] == pytest.approx(0.6, abs=0.01)
    assert_identical(model, loaded)


@pytest.mark.parametrize("mode", ["dynamic", "weight_only"])
def test_torchao_int8_is_stored_as_plain_int8_tensors(tmp_path, registry, mode):
    model, saved, loaded = build_and_reload(tmp_path, registry,
                                            f'[[compress]]\nuse = "quantize_int8"\nmode = "{mode}"\n')
    stored = read_artifact(saved).header.tensors
    assert stored["heads.parity.0._weight_qdata"]["dtype"] == "I8"
    assert "heads.parity.0.weight" not in stored
    assert_identical(model, loaded)


def test_static_int8_stores_int8_weights_and_restores_activation_scales(tmp_path, registry):
    model, saved, loaded = build_and_reload(tmp_path, registry,
                                            '[[compress]]\nuse = "quantize_int8"\nmode = "static"\n'
                                            "calibration_batches = 2\n")
    artifact = read_artifact(saved)
    dtypes = {entry["dtype"] for entry in artifact.header.tensors.values()}
    assert "I8" in dtypes
    float_weights = [n for n, e in artifact.header.tensors.items() if e["dtype"] == "F32" and len(e["shape"]) == 4]
    assert float_weights == []  # convolution weights are int8 only
    assert artifact.compression_steps[0]["record"]["activation_qparams"]["backbone"]
    assert_identical(model, loaded)
    from flexzoo.exporting.exporters import export

    exported = export(loaded, (1, 8, 8), "exported-program", tmp_path / "tiny.pt2")
    assert exported.max_abs_diff == 0.0 and exported.outputs == ["digit", "parity"]


def test_low_rank_factorizes_and_reloads(tmp_path, registry):
    steps = '[[compress]]\nuse = "low_rank"\nrank_ratio = 0.25\nmatch = "heads.parity.0"\n'
    model, saved, loaded = build_and_reload(tmp_path, registry, steps)
    assert read_artifact(saved).compression_steps[0]["record"]["ranks"] == {"heads.parity.0": 4}
    assert model.heads["parity"][0][0].out_features == 4
    assert_identical(model, loaded)


def test_pruned_then_static_int8_reloads(tmp_path, registry):
    steps = ('[[compress]]\nuse = "prune_channels"\n'
             '[[compress]]\nuse = "quantize_int8"\nmode = "static"\ncalibration_batches = 1\n')
    model, _, loaded = build_and_reload(tmp_path, registry, steps)
    assert_identical(model, loaded)


def test_low_rank_convolution_is_the_best_rank_r_approximation(tmp_path, registry):
    from flexzoo_plugin_compress.factories import low_rank

    conv = torch.nn.Conv2d(16, 32, 3, stride=2, padding=1)
    factorized = low_rank(rank_ratio=0.25)(torch.nn.Sequential(conv))[0]
    u, s, vh = torch.linalg.svd(conv.weight.detach().reshape(32, -1), full_matrices=False)
    best = ((u[:, :8] * s[:8]) @ vh[:8]).reshape(conv.weight.shape)  # a quarter of 32 singular values
    x = torch.randn(2, 16, 9, 9)
    with torch.no_grad():
        expected = torch.nn.functional.conv2d(x, best, conv.bias, stride=2, padding=1)
        assert torch.allclose(factorized(x), expected, atol=1e-5)


def test_low_rank_factorizes_convolutions_and_reloads(tmp_path, registry):
    steps = '[[compress]]\nuse = "low_rank"\nrank_ratio = 0.25\nmatch = "backbone.stages.*"\n'
    model, saved, loaded = build_and_reload(tmp_path, registry, steps)
    ranks = read_artifact(saved).compression_steps[0]["record"]["ranks"]
    assert ranks["backbone.stages.1.1.conv2"] == 4
    first, second = model.backbone.stages[1][1].conv2
    assert (first.kernel_size, first.out_channels, second.kernel_size) == ((3, 3), 4, (1, 1))
    assert_identical(model, loaded)


def test_cast_and_chained_steps_reload(tmp_path, registry):
    steps = ('[[compress]]\nuse = "prune_channels"\n[[compress]]\nuse = "low_rank"\nrank_ratio = 0.25\n'
             '[[compress]]\nuse = "cast"\n')
    model, saved, loaded = build_and_reload(tmp_path, registry, steps)
    assert read_artifact(saved).card["dtype"].startswith("bfloat16")
    assert_identical(model, loaded, torch.bfloat16)


TIMM = """
[model]
name = "timm-small"
input_shape = [3, 32, 32]

[backbone]
use = "timm_model"
{backbone}

[heads.out]
use = "linear"
num_classes = 5
"""


@pytest.mark.slow
@pytest.mark.parametrize("backbone", ['architecture = "resnet18"',
                                      'architecture = "vit_tiny_patch16_224"\nimg_size = 32\ndepth = 2'])
def test_prune_channels_on_timm_cnn_and_vit_reloads(tmp_path, registry, backbone):
    model, saved, loaded = build_and_reload(tmp_path, registry, '[[compress]]\nuse = "prune_channels"\n',
                                            TIMM.format(backbone=backbone))
    before, after = read_artifact(saved).compression_steps[0]["record"]["parameters"]
    assert after < 0.3 * before
    assert_identical(model, loaded, shape=(3, 32, 32))


def test_report_measures_sizes_and_eager_latency_before_and_after(tmp_path, registry):
    model, saved, _ = build_and_reload(tmp_path, registry, '[[compress]]\nuse = "prune_channels"\n',
                                       report="eager")
    report = read_artifact(saved).info["compression"]["report"]
    assert report["parameters"]["after"] == sum(p.numel() for p in model.parameters())
    assert report["parameters"]["before"] > 3 * report["parameters"]["after"]
    assert report["bytes"]["after"] == read_artifact(saved).card["bytes"]
    assert report["latency"]["eager"]["before_ms"] > 0 and report["latency"]["eager"]["after_ms"] > 0
    from flexzoo.artifact.card import render_card

    card = render_card(read_artifact(saved).info, "")
    assert "compression   prune_channels" in card and "eager" in card


def test_a_record_that_does_not_fit_is_refused_clearly(tmp_path, registry):
    import json

    from safetensors import safe_open
    from safetensors.torch import save_file

    from flexzoo.artifact.format import canonical_json, metadata_digest
    from flexzoo.errors import ArtifactError

    _, saved, _ = build_and_reload(tmp_path, registry, '[[compress]]\nuse = "quantize_int8"\nmode = "static"\n'
                                   "calibration_batches = 1\n")
    with safe_open(str(saved), "pt") as stored:
        metadata = stored.metadata()
        tensors = {name: stored.get_tensor(name) for name in stored.keys()}  # noqa: SIM118
    info = json.loads(metadata["flexzoo"])
    info["compression"]["steps"][0]["record"]["activation_qparams"]["backbone"].pop()
    metadata["flexzoo"] = canonical_json(info)
    metadata["metadata_sha256"] = metadata_digest(metadata["flexzoo"])
    save_file(tensors, str(saved), metadata=metadata)
    with pytest.raises(ArtifactError, match="a compression step cannot rebuild its structure from the record"):
        flexzoo.load(saved, registry)
