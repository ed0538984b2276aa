"""The built model: its shape, its outputs, its initialization, and bit-identical reproducibility."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from conftest import TINY_MANIFEST
from flexzoo import ZooModel, load_manifest
from flexzoo.builtin.layers import DropPath
from flexzoo.pipeline.stages import build as build_model
from flexzoo.testing import registry_of


@pytest.fixture
def tiny(manifest_file, registry):
    return load_manifest(manifest_file(TINY_MANIFEST), registry)


def test_model_has_backbone_and_heads_and_returns_a_dict(tiny, registry):
    model = build_model(tiny, registry)
    assert isinstance(model, ZooModel) and isinstance(model.heads, nn.ModuleDict)
    assert list(model.heads) == ["digit", "parity"]
    out = model(torch.randn(5, 1, 8, 8))
    assert {name: tuple(t.shape) for name, t in out.items()} == {"digit": (5, 10), "parity": (5, 2)}


def test_same_manifest_and_seed_give_bit_identical_weights(tiny, registry):
    first, second = build_model(tiny, registry).state_dict(), build_model(tiny, registry).state_dict()
    assert first.keys() == second.keys()
    assert all(torch.equal(first[k], second[k]) for k in first)


def test_another_seed_gives_other_weights(manifest_file, registry):
    a = build_model(load_manifest(manifest_file(TINY_MANIFEST), registry), registry)
    b = build_model(load_manifest(manifest_file(TINY_MANIFEST.replace("seed = 0", "seed = 1")), registry), registry)
    assert not torch.equal(a.backbone.stem[0].weight, b.backbone.stem[0].weight)


def test_build_leaves_the_global_rng_alone(tiny, registry):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    build_model(tiny, registry)
    assert torch.equal(torch.rand(3), expected)


def test_initializer_applies_only_to_matching_modules(manifest_file, registry):
    text = TINY_MANIFEST.replace('use = "kaiming_normal"\nmatch = "backbone.*"',
                                 'use = "constant"\nvalue = 0.5\nmatch = "heads.digit.*"')
    model = build_model(load_manifest(manifest_file(text), registry), registry)
    digit = next(m for m in model.heads["digit"].modules() if isinstance(m, nn.Linear))
    assert torch.all(digit.weight == 0.5) and torch.all(digit.bias == 0.5)
    parity = next(m for m in model.heads["parity"].modules() if isinstance(m, nn.Linear))
    assert not torch.all(parity.weight == 0.5)


def test_weight_scheme_sets_weights_and_biases_and_skips_norms(manifest_file, registry):
    text = TINY_MANIFEST.replace('use = "kaiming_normal"\nmatch = "backbone.*"',
                                 'use = "orthogonal"\nbias = 0.25\nmatch = "*"')
    model = build_model(load_manifest(manifest_file(text), registry), registry)
    linear = model.heads["digit"][0]
    gram = linear.weight.T @ linear.weight  # 10 x 8: orthonormal columns
    assert torch.allclose(gram, torch.eye(8), atol=1e-5) and torch.all(linear.bias == 0.25)
    norm = model.backbone.stem[1]
    assert torch.all(norm.weight == 1) and torch.all(norm.bias == 0)


def test_stochastic_depth_is_active_only_in_training(manifest_file, registry):
    text = TINY_MANIFEST.replace("channels = [4, 8]", "channels = [4, 8]\ndepth = 2\ndrop_path_rate = 0.5")
    model = build_model(load_manifest(manifest_file(text), registry), registry)
    rates = [m.rate for m in model.modules() if isinstance(m, DropPath)]
    assert rates == pytest.approx([0.5 / 3, 1 / 3, 0.5])  # linear schedule; the first block has rate 0
    x = torch.randn(16, 1, 8, 8)
    assert torch.equal(model(x)["digit"], model(x)["digit"])
    model.train()
    torch.manual_seed(0)
    assert not torch.equal(model(x)["digit"], model(x)["digit"])


def test_mlp_backbone_with_norm_and_dropout(manifest_file, registry):
    text = TINY_MANIFEST.replace('use = "cnn"\nchannels = [4, 8]', 'use = "mlp"\nwidths = [32, 16]\nnorm = "layer"\n'
                                 'dropout = 0.1\nactivation = "gelu"')
    model = build_model(load_manifest(manifest_file(text), registry), registry)
    kinds = [type(m).__name__ for m in model.backbone]
    assert kinds == ["Flatten", "Linear", "LayerNorm", "GELU", "Dropout", "Linear", "LayerNorm", "GELU", "Dropout"]
    assert model(torch.randn(2, 1, 8, 8))["digit"].shape == (2, 10)


def test_lifecycle_hook_sees_the_built_model(manifest_file):
    import flexzoo
    import flexzoo.builtin

    seen = []

    class Observer:
        @flexzoo.hookimpl
        def flexzoo_model_built(self, model, manifest):
            seen.append((type(model).__name__, manifest.model.name))

    registry = registry_of(observer=Observer())
    build_model(load_manifest(manifest_file(TINY_MANIFEST), registry), registry)
    assert seen == [("ZooModel", "tiny")]


def _batch_norm_case(channels: int, stats: int, dtype: torch.dtype = torch.float32, channels_last: bool = False):
    batch = torch.empty((2, channels, 5, 5), device="meta", dtype=dtype)
    if channels_last:
        batch = batch.to(memory_format=torch.channels_last)
    stat = torch.empty(stats, device="meta")
    return batch, stat


@pytest.mark.parametrize(("dtype", "channels_last"), [(torch.float32, False), (torch.bfloat16, True)])
def test_the_dry_runs_batch_norm_on_meta_answers_as_the_kernel(dtype, channels_last):
    from torch.nn import functional

    from flexzoo.assembly.meta_shortcuts import meta_shortcuts

    batch, stat = _batch_norm_case(8, 8, dtype, channels_last)
    expected = functional.batch_norm(batch, stat, stat, stat, stat, False)
    with meta_shortcuts():
        got = functional.batch_norm(batch, stat, stat, stat, stat, False)
        trained = nn.BatchNorm2d(8, device="meta").train()(batch)  # training mode runs the kernel itself
    assert (got.shape, got.dtype, got.stride(), got.device) == (expected.shape, expected.dtype, expected.stride(),
                                                                expected.device)
    assert trained.shape == batch.shape


@pytest.mark.parametrize("wrong", ["running_mean", "weight", "bias"])
def test_the_dry_runs_batch_norm_on_meta_refuses_what_the_kernel_refuses(wrong):
    from torch.nn import functional

    from flexzoo.assembly.meta_shortcuts import meta_shortcuts

    batch, stat = _batch_norm_case(8, 8)
    arguments = {"running_mean": stat, "running_var": stat, "weight": stat, "bias": stat,
                 wrong: torch.empty(4, device="meta")}
    with pytest.raises(RuntimeError) as kernel:
        functional.batch_norm(batch, training=False, **arguments)
    with meta_shortcuts(), pytest.raises(RuntimeError) as fast:
        functional.batch_norm(batch, training=False, **arguments)
    assert str(fast.value) == str(kernel.value).splitlines()[0] == f"{wrong} should contain 8 elements not 4"


def _meta_fills():
    from torch.nn import init

    return {
        "normal_ with a negative std": lambda t: t.normal_(0.0, -1.0),
        "normal_ with a NaN std": lambda t: t.normal_(0.0, float("nan")),
        "init.normal_ with a negative std": lambda t: init.normal_(t, 0.0, -2.0),
        "kaiming_uniform_ of a vector": lambda t: init.kaiming_uniform_(t[0]),
        "kaiming_normal_ with an unknown nonlinearity": lambda t: init.kaiming_normal_(t, nonlinearity="bogus"),
        "kaiming_uniform_ with an unknown mode": lambda t: init.kaiming_uniform_(t, mode="sideways"),
        "add_ of a float to integers": lambda t: t.long().add_(1.5),
        "add_ of a tensor that does not broadcast": lambda t: t.add_(torch.empty(5, device="meta")),
    }


@pytest.mark.parametrize("case", list(_meta_fills()))
def test_the_dry_runs_skipped_fills_refuse_what_torch_refuses(case):
    from flexzoo.assembly.meta_shortcuts import meta_shortcuts

    fill = _meta_fills()[case]
    with pytest.raises((RuntimeError, ValueError)) as kernel:
        fill(torch.empty((3, 4), device="meta"))
    with meta_shortcuts(), pytest.raises((RuntimeError, ValueError)) as fast:
        fill(torch.empty((3, 4), device="meta"))
    assert (type(fast.value), str(fast.value)) == (type(kernel.value), str(kernel.value))


def test_the_dry_runs_skipped_fills_return_the_tensor_and_leave_real_tensors_alone():
    from torch.nn import init

    from flexzoo.assembly.meta_shortcuts import meta_shortcuts

    meta = torch.empty((4, 3, 3, 3), device="meta")
    real = torch.zeros(4, 3, 3, 3)
    with meta_shortcuts():
        assert init.kaiming_uniform_(meta, a=5 ** 0.5) is meta
        assert meta.normal_(0.0, 0.02).uniform_(-1.0, 1.0).mul_(2.0).add_(1.0) is meta
        init.kaiming_uniform_(real)  # a tensor with data is filled as always
        filled = torch.ones(3).normal_(0.0, 1.0)
    assert meta.shape == (4, 3, 3, 3) and meta.is_meta
    assert real.abs().sum() > 0 and torch.unique(filled).numel() == 3
