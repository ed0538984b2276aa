"""torchvision backbones in manifests: torchvision's own features, local weights checked, trained and reloaded."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest
import torch
import torchvision
from safetensors.torch import save_file
from sklearn.datasets import load_digits

import flexzoo
import flexzoo_plugin_torchvision
from flexzoo import ManifestError, build
from flexzoo.testing import registry_fixture

MANIFEST = """
[model]
name = "torchvision-digits"
seed = 0
input_shape = [3, {size}, {size}]

[backbone]
use = "torchvision:{model}"
{backbone}

[heads.digit]
use = "linear"
num_classes = 10
"""

#: 21 architectures, one or more of each torchvision family but maxvit (it needs 224 x 224 inputs: slow here), and the
#: name of the layer that makes the logits in torchvision's model (written out here, not derived).
SAMPLE = {
    "alexnet": "classifier.6", "convnext_tiny": "classifier.2", "densenet121": "classifier",
    "efficientnet_b0": "classifier.1", "efficientnet_v2_s": "classifier.1", "googlenet": "fc",
    "inception_v3": "fc", "mnasnet0_5": "classifier.1", "mobilenet_v2": "classifier.1",
    "mobilenet_v3_small": "classifier.3", "mobilenet_v3_large": "classifier.3", "regnet_x_400mf": "fc",
    "regnet_y_400mf": "fc", "resnet18": "fc", "resnext50_32x4d": "fc", "shufflenet_v2_x0_5": "fc",
    "squeezenet1_0": "classifier.1", "squeezenet1_1": "classifier.1", "swin_t": "head",
    "vgg11": "classifier.6", "vit_b_32": "heads.head",
}
#: Smallest inputs these take (32 x 32 for the rest).
SIZES = {"alexnet": 64, "inception_v3": 75}
OPTIONS = {"vit_b_32": {"image_size": 32}}
#: torchvision's keywords for the same model without its auxiliary classifiers.
WITHOUT_AUX = {"googlenet": {"aux_logits": False, "init_weights": True},
               "inception_v3": {"aux_logits": False, "init_weights": True}}


registry = registry_fixture(flexzoo_plugin_torchvision)


@pytest.fixture
def manifest(tmp_path):
    def write(model: str = "resnet18", backbone: str = "", size: int = 32, extra: str = "") -> str:
        path = tmp_path / "model.toml"
        path.write_text(MANIFEST.format(model=model, size=size, backbone=textwrap.dedent(backbone)) + extra)
        return str(path)

    return write


class Stop(Exception):
    """Raised by a hook to end a forward pass at the classifier, carrying its input."""


def features_before(model: torch.nn.Module, layer: str, x: torch.Tensor) -> torch.Tensor:
    """What torchvision's ``model`` gives its classifier ``layer`` for ``x``."""
    def capture(module, args):
        raise Stop(args[0])

    handle = model.get_submodule(layer).register_forward_pre_hook(capture)
    try:
        model(x)
    except Stop as stop:
        return stop.args[0]
    finally:
        handle.remove()
    raise AssertionError(f"{layer} was not called")


def torchvision_model(name: str, **kwargs) -> torch.nn.Module:
    """torchvision's model, on the meta device where it builds there (its weights are assigned after)."""
    try:
        with torch.device("meta"):
            return torchvision.models.get_model(name, weights=None, **kwargs)
    except NotImplementedError:  # RegNet computes its widths with tensors
        return torchvision.models.get_model(name, weights=None, **kwargs)


@pytest.mark.parametrize("name", sorted(SAMPLE))
def test_features_equal_torchvision_before_its_classifier(name, registry):
    factory = registry.resolve("backbone", f"torchvision:{name}").component.factory
    size = SIZES.get(name, 32)
    torch.manual_seed(0)
    backbone = factory(input_shape=(3, size, size), options=OPTIONS.get(name, {})).eval()
    reference = torchvision_model(name, **WITHOUT_AUX.get(name, {}), **OPTIONS.get(name, {})).eval()
    missing, unexpected = reference.load_state_dict(backbone.state_dict(), strict=False, assign=True)
    assert not unexpected and {key.rpartition(".")[0] for key in missing} == {SAMPLE[name]}
    x = torch.randn(2, 3, size, size)
    with torch.no_grad():
        expected = features_before(reference, SAMPLE[name], x).flatten(1)
        features = backbone(x)
    assert torch.equal(features, expected)
    assert features.shape == (2, backbone.num_features)


def test_the_heads_receive_the_pooled_features(manifest, registry):
    model = build(manifest("mobilenet_v3_small"), registry)
    assert model.backbone.num_features == 1024 == model.heads["digit"][-1].in_features
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(model(x)["digit"], model.heads["digit"](model.backbone(x)))


def save_torchvision_weights(path, name: str = "resnet18") -> dict[str, torch.Tensor]:
    torch.manual_seed(1)
    state = torchvision.models.get_model(name, weights=None).state_dict()  # with its classifier, as published
    save_file(state, str(path))
    return state


def test_weights_from_a_local_file_without_the_classifier(manifest, registry, tmp_path):
    weights = tmp_path / "resnet18.safetensors"
    state = save_torchvision_weights(weights)
    model = build(manifest("resnet18", f'pretrained = "{weights}"'), registry)
    loaded = model.backbone.state_dict()
    assert all(torch.equal(loaded[k], state[k]) for k in loaded)
    assert "fc.weight" in state and "fc.weight" not in loaded


def test_weights_of_another_architecture_are_refused_with_their_keys(manifest, registry, tmp_path):
    weights = tmp_path / "resnet18.safetensors"
    save_torchvision_weights(weights)
    with pytest.raises(ManifestError) as error:
        build(manifest("resnet34", f'pretrained = "{weights}"'), registry)
    message = str(error.value)
    assert "[backbone.pretrained]" in message
    assert "does not fit this architecture: missing 80: layer1.2.bn1.bias," in message


def test_builder_options_reach_torchvision_and_unknown_ones_are_named(manifest, registry):
    model = build(manifest("mobilenet_v3_small", "options = { dropout = 0.5 }"), registry)
    assert model.backbone.classifier[2].p == 0.5
    with pytest.raises(ManifestError, match=r"\[backbone.options.bogus\] .*not an option of torchvision's resnet18"):
        build(manifest("resnet18", "options = { bogus = 1 }"), registry)
    with pytest.raises(ManifestError, match=r"\[backbone.options.num_classes\] .*set by the backbone itself"):
        build(manifest("resnet18", "options = { num_classes = 5 }"), registry)


def test_grey_input_is_refused_at_input_shape(manifest, registry, tmp_path):
    path = manifest("resnet18")
    with open(path, "r+") as file:
        text = file.read().replace("[3, 32, 32]", "[1, 32, 32]")
        file.seek(0)
        file.write(text)
    with pytest.raises(ManifestError, match=r"\[model.input_shape\] .*must be \(3, height, width\)"):
        build(path, registry)


def digits_as_rgb(path, count: int) -> None:
    """scikit-learn's digits, each 8x8 image scaled to 32x32 and repeated over 3 channels, as an .npz file."""
    bunch = load_digits()
    images = np.repeat(np.repeat(bunch.images[:count] / 16.0, 4, axis=1), 4, axis=2).astype(np.float32)
    np.savez(path, x=np.repeat(images[:, None], 3, axis=1), digit=bunch.target[:count].astype(np.int64))


@pytest.mark.slow
def test_trains_on_digits_saves_and_reloads_identically(manifest, registry, tmp_path):
    digits_as_rgb(tmp_path / "digits.npz", count=64)
    path = manifest("squeezenet1_1", extra='\n[train]\ndata = "arrays:digits.npz"\nepochs = 2\nbatch_size = 16\n'
                                           'validation_split = 0.25\nlr = 0.003\n')
    untrained = build(path, registry)
    result = flexzoo.train(path, tmp_path / "out", registry)
    assert len(result.history) == 2
    trained = result.model.eval()
    assert not torch.equal(trained.backbone.features[0].weight, untrained.backbone.features[0].weight)
    restored = flexzoo.load(result.artifact, registry)
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(restored(x)["digit"], trained(x)["digit"])
    assert restored.backbone.num_features == 512
