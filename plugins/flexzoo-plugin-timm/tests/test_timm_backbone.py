"""timm backbones in manifests: same features as timm itself, options checked, local weights checked."""

from __future__ import annotations

import textwrap

import pytest
import timm
import torch
from safetensors.torch import save_file

import flexzoo
import flexzoo_plugin_timm
from flexzoo import ManifestError, build
from flexzoo.testing import registry_fixture

TWO_HEADS = """
[model]
name = "timm-two-heads"
seed = 0
input_shape = [3, 32, 32]

[backbone]
use = "timm:{model}"
{backbone}

[heads.label]
use = "linear"
num_classes = 5

[heads.score]
use = "mlp"
num_classes = 2
hidden = [16]
"""


registry = registry_fixture(flexzoo_plugin_timm)


@pytest.fixture
def manifest(tmp_path):
    def write(model: str = "resnet18", backbone: str = "") -> str:
        path = tmp_path / "model.toml"
        path.write_text(TWO_HEADS.format(model=model, backbone=textwrap.dedent(backbone)))
        return str(path)

    return write


def test_features_and_heads_equal_timm_with_the_same_weights(manifest, registry):
    model = build(manifest("resnet18"), registry)
    reference = timm.create_model("resnet18", num_classes=0).eval()
    reference.load_state_dict(model.backbone.state_dict())
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        features, outputs = reference(x), model(x)
        assert torch.equal(model.backbone(x), features)
        for name, head in model.heads.items():
            assert torch.equal(outputs[name], head(features))
    assert {name: tuple(out.shape) for name, out in outputs.items()} == {"label": (3, 5), "score": (3, 2)}


def save_timm_weights(path, name: str = "resnet10t", **kwargs) -> dict[str, torch.Tensor]:
    torch.manual_seed(1)
    state = timm.create_model(name, **kwargs).state_dict()  # with its classifier, as published weights are
    save_file(state, str(path))
    return state


def test_pretrained_weights_from_a_local_file(manifest, registry, tmp_path):
    weights = tmp_path / "resnet10t.safetensors"
    state = save_timm_weights(weights)
    model = build(manifest("resnet10t", f'pretrained = "{weights}"'), registry)
    loaded = model.backbone.state_dict()
    assert all(torch.equal(loaded[k], state[k]) for k in loaded)
    assert "fc.weight" in state and "fc.weight" not in loaded


def test_an_artifact_rebuilds_without_the_pretrained_file(manifest, registry, tmp_path):
    weights = tmp_path / "resnet10t.safetensors"
    save_timm_weights(weights)
    model = build(manifest("resnet10t", f'pretrained = "{weights}"'), registry)
    artifact = flexzoo.save(model, tmp_path / "out")
    weights.unlink()
    restored = flexzoo.load(artifact, registry)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert all(torch.equal(restored(x)[k], model(x)[k]) for k in ("label", "score"))


def test_pretrained_weights_of_another_architecture_are_refused_with_their_keys(manifest, registry, tmp_path):
    weights = tmp_path / "resnet10t.safetensors"
    save_timm_weights(weights)
    with pytest.raises(ManifestError) as error:
        build(manifest("resnet18", f'pretrained = "{weights}"'), registry)
    message = str(error.value)
    assert "[backbone.pretrained]" in message and "does not fit this architecture" in message
    assert "missing" in message and "unexpected" in message and "misshapen" in message
    assert "missing 53: conv1.weight," in message and "unexpected 28: conv1.0.weight," in message
    assert "layer2.0.downsample.1.weight (file [128, 64, 1, 1], model [128])" in message


def test_lenient_loading_keeps_what_fits_and_warns(manifest, registry, tmp_path):
    weights = tmp_path / "partial.safetensors"
    state = save_timm_weights(weights)
    del state["conv1.0.weight"]
    save_file(state, str(weights))
    with pytest.warns(UserWarning, match=r"missing 1: conv1\.0\.weight"):
        model = build(manifest("resnet10t", f'pretrained = "{weights}"\npretrained_strict = false'), registry)
    assert torch.equal(model.backbone.state_dict()["layer1.0.conv1.weight"], state["layer1.0.conv1.weight"])


def test_a_missing_weights_file_is_named(manifest, registry, tmp_path):
    with pytest.raises(ManifestError, match=r"\[backbone.pretrained\].*nope.safetensors: no such file"):
        build(manifest("resnet10t", f'pretrained = "{tmp_path / "nope.safetensors"}"'), registry)


def test_an_option_the_architecture_does_not_take_is_refused(manifest, registry):
    with pytest.raises(ManifestError, match=r"\[backbone.img_size\] .*is not an option of timm's resnet10t"):
        build(manifest("resnet10t", "img_size = 64"), registry)
    with pytest.raises(ManifestError, match=r"\[backbone.options.bogus\]"):
        build(manifest("resnet10t", "options = { bogus = 1 }"), registry)


def test_options_reach_timm(manifest, registry):
    model = build(manifest("vit_tiny_patch16_224", "img_size = 32\ndrop_path_rate = 0.1\n"
                                                   "options = { depth = 2 }"), registry)
    assert len(model.backbone.blocks) == 2
    assert model.backbone.patch_embed.img_size == (32, 32)
    assert model.backbone.blocks[1].drop_path1.drop_prob == pytest.approx(0.1)


def test_input_channels_come_from_input_shape(manifest, registry, tmp_path):
    path = manifest("resnet10t")
    with open(path, "r+") as file:
        text = file.read().replace("[3, 32, 32]", "[1, 32, 32]")
        file.seek(0)
        file.write(text)
    model = build(path, registry)
    assert model.backbone.conv1[0].weight.shape[1] == 1


def test_features_only_pools_and_concatenates_the_chosen_stages(manifest, registry):
    model = build(manifest("resnet18", "features_only = true\nout_indices = [1, 3]"), registry)
    stages = timm.create_model("resnet18", features_only=True, out_indices=(1, 3)).eval()
    stages.load_state_dict(model.backbone.features.state_dict())
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        expected = torch.cat([stage.mean(dim=(2, 3)) for stage in stages(x)], dim=1)
        assert torch.equal(model.backbone(x), expected)
    assert model.backbone.num_features == 64 + 256 == model.heads["label"][-1].in_features


def test_out_indices_need_features_only(manifest, registry):
    with pytest.raises(ManifestError, match=r"\[backbone.out_indices\] .*only applies with features_only"):
        build(manifest("resnet10t", "out_indices = [1]"), registry)


def test_global_pool_reaches_timm_and_timm_checks_it(manifest, registry):
    model = build(manifest("resnet10t", 'global_pool = "max"'), registry)
    reference = timm.create_model("resnet10t", num_classes=0, global_pool="max").eval()
    reference.load_state_dict(model.backbone.state_dict())
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(model.backbone(x), reference(x))
    with pytest.raises(ManifestError, match=r"\[backbone\] timm:resnet10t rejected its parameters: Invalid pool type"):
        build(manifest("resnet10t", 'global_pool = "bogus"'), registry)


SEGMENTATION = """
[model]
name = "timm-segmentation"
seed = 0
input_shape = [3, 32, 32]

[backbone]
use = "timm:resnet18"
{backbone}

[heads.mask]
use = "segmentation"
num_classes = 3
"""


def test_features_only_returns_the_stage_maps_to_a_segmentation_head(registry, tmp_path):
    path = tmp_path / "seg.toml"
    path.write_text(SEGMENTATION.format(backbone="features_only = true\nout_indices = [1, 3]"))
    model = build(path, registry)
    assert [(m.name, m.channels, m.stride) for m in model.backbone.feature_maps] == [("layer1", 64, 4),
                                                                                      ("layer3", 256, 16)]
    stages = timm.create_model("resnet18", features_only=True, out_indices=(1, 3)).eval()
    stages.load_state_dict(model.backbone.features.state_dict())
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        maps = model.eval().backbone(x)
        assert all(torch.equal(got, want) for got, want in zip(maps.values(), stages(x), strict=True))
        assert model(x)["mask"].shape == (2, 3, 32, 32)


def test_a_segmentation_head_on_a_pooled_timm_backbone_asks_for_features_only(registry, tmp_path):
    path = tmp_path / "seg.toml"
    path.write_text(SEGMENTATION.format(backbone=""))
    with pytest.raises(ManifestError, match=r"\[backbone.features_only\] timm:resnet18: `features_only` must be "
                                            r"true to return feature maps \(head `mask` takes feature maps\)"):
        build(path, registry)


def test_features_only_stages_feed_the_builtin_detection_head(tmp_path, registry):
    path = tmp_path / "detector.toml"
    path.write_text('[model]\nname = "detector"\ninput_shape = [3, 32, 32]\n\n[backbone]\nuse = "timm:resnet10t"\n'
                    'features_only = true\n\n[heads.boxes]\nuse = "detection"\nnum_classes = 3\nstride = 8\n')
    model = build(str(path), registry)
    reference = timm.create_model("resnet10t", features_only=True)
    assert [m.stride for m in model.backbone.feature_maps] == reference.feature_info.reduction()
    with torch.no_grad():
        assert model(torch.rand(2, 3, 32, 32))["boxes"].shape == (2, 3 + 4, 4, 4)  # classes + box, at stride 8


@pytest.mark.parametrize("model", ["vit_large_patch16_224", "vit_giant_patch14_224"])
def test_a_vit_l_and_a_vit_g_validate_within_the_default_dry_run_budget(manifest, registry, model):
    from flexzoo.assembly.builder import plan
    from flexzoo.manifest.validation import load_manifest

    built = plan(load_manifest(manifest(model, "img_size = 32"), registry), registry)  # meta device: no memory
    with torch.device("meta"):
        reference = timm.create_model(model, num_classes=0, img_size=32)
    heads = built.in_features * 5 + 5 + built.in_features * 16 + 16 + 16 * 2 + 2
    assert built.parameters - heads == sum(p.numel() for p in reference.parameters()) > 300_000_000
