"""keras backbones: the same features as keras itself with the same weights, trained by flexzoo, reloaded exactly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import flexzoo
import flexzoo_plugin_keras
from flexzoo import ManifestError, build
from flexzoo.testing import registry_fixture
from flexzoo_plugin_keras.backend import import_keras

keras = import_keras()
EXAMPLE = Path(__file__).parents[3] / "examples" / "keras_digits.toml"
#: A sample of keras.applications at 32x32, kept small (alpha) where the architecture has a width option.
APPLICATIONS = {"MobileNet": "options = { alpha = 0.25 }", "MobileNetV2": "options = { alpha = 0.35 }",
                "MobileNetV3Small": "options = { alpha = 0.75 }", "VGG16": ""}


registry = registry_fixture(flexzoo_plugin_keras)


def manifest(tmp_path, use: str, backbone: str, input_shape: str = "[3, 32, 32]") -> str:
    path = tmp_path / "model.toml"
    path.write_text(f'[model]\nname = "k"\nseed = 0\ninput_shape = {input_shape}\n\n[backbone]\nuse = "keras:{use}"\n'
                    f'{backbone}\n\n[heads.label]\nuse = "linear"\nnum_classes = 3\n')
    return str(path)


@pytest.mark.parametrize("name", sorted(APPLICATIONS))
def test_features_equal_the_keras_application_with_its_weights_file(name, registry, tmp_path):
    options = dict(alpha=float(APPLICATIONS[name].split("=")[-1].strip(" }"))) if APPLICATIONS[name] else {}
    keras.utils.set_random_seed(3)
    reference = getattr(keras.applications, name)(weights=None, include_top=False, pooling="avg",
                                                  input_shape=(32, 32, 3), **options)
    weights = tmp_path / f"{name}.weights.h5"
    reference.save_weights(weights)
    model = build(manifest(tmp_path, name, f'{APPLICATIONS[name]}\npretrained = "{weights}"'), registry).eval()
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = reference(x.permute(0, 2, 3, 1), training=False)
        features = model.backbone(x)
        difference = float((features - expected).abs().max())
        assert difference <= 1e-5, f"{name}: max abs diff {difference}"
        assert torch.equal(model(x)["label"], model.heads["label"](features))
    assert features.shape == (2, reference.output_shape[-1]) and float(expected.abs().max()) > 0


SEQUENTIAL = 'layers = [{ use = "Conv2D", filters = 8, kernel_size = 3, activation = "relu" }, ' \
             '{ use = "BatchNormalization" }, { use = "GlobalAveragePooling2D" }]'


def test_a_sequential_is_the_keras_sequential_of_its_layers_and_is_seeded(registry, tmp_path):
    first, second = (build(manifest(tmp_path, "sequential", SEQUENTIAL, "[1, 8, 8]"), registry) for _ in range(2))
    layers = [layer.__class__.__name__ for layer in first.backbone.model.layers]
    assert layers == ["Conv2D", "BatchNormalization", "GlobalAveragePooling2D"]
    assert first.state_dict().keys() == second.state_dict().keys()
    assert all(torch.equal(a, b) for a, b in zip(first.state_dict().values(), second.state_dict().values()))


def test_a_trained_keras_backbone_reloads_identically(registry, tmp_path):
    model = build(manifest(tmp_path, "sequential", SEQUENTIAL, "[1, 8, 8]"), registry)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    x, target = torch.randn(16, 1, 8, 8), torch.randint(0, 3, (16,))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.train()
    for _ in range(3):  # the host's kind of step: torch autograd and a torch optimizer over keras's variables
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(x)["label"], target).backward()
        optimizer.step()
    changed = [k for k, v in model.state_dict().items() if not torch.equal(v, before[k])]
    assert any("conv2d_0/kernel" in k for k in changed) and any("moving_mean" in k for k in changed)
    restored = flexzoo.load(flexzoo.save(model, tmp_path / "out", registry, export=False), registry)
    with torch.no_grad():
        assert torch.equal(restored(x)["label"], model.eval()(x)["label"])
    tracked = {id(p) for p in restored.backbone.parameters()}  # what the optimizer would update ...
    assert all(id(v.value) in tracked for v in restored.backbone.model.variables)  # ... is what keras computes with


def test_layer_errors_name_the_layer(registry, tmp_path):
    with pytest.raises(ManifestError, match=r"(?s)\[backbone.layers\[1\].use\] .*no 'Conv2d'.*did you mean Conv2D"):
        build(manifest(tmp_path, "sequential", 'layers = [{ use = "Flatten" }, { use = "Conv2d" }]'), registry)
    with pytest.raises(ManifestError, match=r"\[backbone.layers\[0\]\] .*keras.layers.Dense refused its arguments"):
        build(manifest(tmp_path, "sequential", 'layers = [{ use = "Dense", unit = 3 }]'), registry)
    with pytest.raises(ManifestError, match=r"\[backbone.options.weights\] .*is set by the plugin"):
        build(manifest(tmp_path, "VGG16", 'options = { weights = "imagenet" }'), registry)


def run_zoo(code: str, manifest_path: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"} | env
    return subprocess.run([sys.executable, "-c", code, "validate", manifest_path], capture_output=True, text=True,
                          timeout=120, env=environment)


ZOO = "import sys\nfrom flexzoo.cli import main\nsys.exit(main(sys.argv[1:]))"


def test_another_keras_backend_is_one_clear_error(tmp_path):
    # (keras imported first on another backend is refused too; that needs jax or tensorflow, not installed here)
    path = manifest(tmp_path, "sequential", 'layers = [{ use = "Flatten" }]')
    chosen = run_zoo(ZOO, path, KERAS_BACKEND="numpy")
    assert chosen.returncode == 1 and "Traceback" not in chosen.stderr
    assert "KERAS_BACKEND is 'numpy'; flexzoo-plugin-keras needs the torch backend" in chosen.stderr


@pytest.mark.slow
def test_the_digits_example_trains_a_keras_sequential(registry, tmp_path):
    result = flexzoo.train(EXAMPLE, tmp_path, registry)
    assert result.history[-1]["validation"]["digit.accuracy"] >= 0.8, result.summary
    restored = flexzoo.load(result.artifact, registry)
    x = torch.rand(4, 1, 8, 8)
    with torch.no_grad():
        assert torch.equal(restored(x)["digit"], result.model.eval()(x)["digit"])
