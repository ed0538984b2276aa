"""The stages share one run value: what one stage settles does not depend on which stage asked first."""

from __future__ import annotations

import types

import pytest

import flexzoo
import flexzoo.builtin
from flexzoo.builtin.backbones import cnn
from flexzoo.errors import ManifestError
from flexzoo.host.registry import Registry
from flexzoo.manifest.validation import load_manifest
from flexzoo.pipeline.stages import Pipeline
from flexzoo.plugin.steps import StepContext

MEAN, STD = [0.25, 0.5, 0.75], [0.2, 0.3, 0.4]

MODEL = """
[model]
name = "declared"
seed = 0
input_shape = [3, 8, 8]

[backbone]
use = "pretrained_cnn"
{backbone}

[heads.label]
use = "linear"
num_classes = 2

[train]
data = "imagefolder:images"
epochs = 1
batch_size = 4
"""


def pretrained_cnn(input_shape: tuple[int, ...], context: StepContext, channels: list[int] = [4]):  # noqa: B006
    """A cnn whose (pretend) pretrained weights expect MEAN and STD."""
    assert isinstance(context, StepContext)  # filled by the host, like input_shape
    module = cnn(input_shape, channels=channels)
    module.preprocessing = {"mean": MEAN, "std": STD, "interpolation": "bicubic"}
    return module


def make_folder(root, per_class: int = 4) -> None:
    from PIL import Image

    for label, name in enumerate(("dark", "light")):
        (root / name).mkdir(parents=True)
        for index in range(per_class):
            shade = 30 + 180 * label + index
            Image.new("RGB", (12, 10), (shade, shade, 255 - shade)).save(root / name / f"{index}.png")


@pytest.fixture
def declared_registry() -> Registry:
    plugin = types.ModuleType("declared")
    plugin.flexzoo_backbones = flexzoo.hookimpl(lambda: [flexzoo.Component("pretrained_cnn", pretrained_cnn)])
    return Registry.from_modules({"builtin": flexzoo.builtin, "declared": plugin})


def test_pretrained_normalization_is_the_same_whether_the_data_or_the_model_comes_first(
        manifest_file, declared_registry, tmp_path):
    make_folder(tmp_path / "images")
    manifest = load_manifest(manifest_file(MODEL.format(backbone="")), declared_registry)
    data_first = Pipeline(manifest, declared_registry)
    preprocessing = data_first.training_data().preprocessing()
    data_first.model()
    model_first = Pipeline(manifest, declared_registry)
    model_first.model()
    assert preprocessing == model_first.training_data().preprocessing() == data_first.training_data().preprocessing()
    assert preprocessing is not None
    assert (preprocessing["mean"], preprocessing["std"], preprocessing["normalization"]) == (MEAN, STD, "pretrained")


def test_a_host_filled_parameter_is_refused_in_the_manifest(manifest_file, declared_registry, tmp_path):
    make_folder(tmp_path / "images")
    with pytest.raises(ManifestError, match=r"\[backbone.context\] `context` is not set in a manifest: it is the "
                                            r"host's StepContext"):
        load_manifest(manifest_file(MODEL.format(backbone='context = "mine"')), declared_registry)
