"""Issue 14: keras backbones give keras's own features with the same weights, over 20+ keras.applications.

The plugin's tests check four applications (each keras build takes seconds); this check covers the sample the issue
asks for. Each application is built by keras (random weights, saved to a .weights.h5 file) and by flexzoo from a
manifest naming that file; the pooled features of the same input are compared. Prints one line per application and
the largest difference; exits 1 if any differs by more than 1e-5 or fails to build.

    python bench/check_keras_applications.py [NAME ...]
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import torch

import flexzoo
import flexzoo.builtin
import flexzoo_plugin_keras
from flexzoo.host.registry import Registry
from flexzoo_plugin_keras.backend import import_keras

#: The smaller members of each family at the smallest input keras accepts (75 px for the Inception family, 71 Xception).
SAMPLE = {
    "ConvNeXtTiny": 32, "DenseNet121": 32, "DenseNet169": 32, "EfficientNetB0": 32, "EfficientNetB1": 32,
    "EfficientNetV2B0": 32, "EfficientNetV2B1": 32, "EfficientNetV2S": 32, "InceptionV3": 75,
    "InceptionResNetV2": 75, "MobileNet": 32, "MobileNetV2": 32, "MobileNetV3Large": 32, "MobileNetV3Small": 32,
    "ResNet50": 32, "ResNet50V2": 32, "ResNet101": 32, "VGG16": 32, "VGG19": 32, "Xception": 71,
}
TOLERANCE = 1e-5


def manifest(folder: Path, name: str, size: int, weights: Path) -> Path:
    path = folder / f"{name}.toml"
    path.write_text(f'[model]\nname = "k"\nseed = 0\ninput_shape = [3, {size}, {size}]\n\n'
                    f'[backbone]\nuse = "keras:{name}"\npretrained = "{weights}"\n\n'
                    '[heads.label]\nuse = "linear"\nnum_classes = 3\n')
    return path


def check(keras, registry: Registry, folder: Path, name: str, size: int) -> float:
    keras.utils.set_random_seed(3)
    reference = getattr(keras.applications, name)(weights=None, include_top=False, pooling="avg",
                                                  input_shape=(size, size, 3))
    weights = folder / f"{name}.weights.h5"
    reference.save_weights(weights)
    model = flexzoo.build(str(manifest(folder, name, size, weights)), registry).eval()
    x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = reference(x.permute(0, 2, 3, 1), training=False)
        features = model.backbone(x)
    if features.shape != expected.shape or not float(expected.abs().max()) > 0:
        raise AssertionError(f"features {tuple(features.shape)} against keras's {tuple(expected.shape)}")
    return float((features - expected).abs().max())


def main(names: list[str]) -> int:
    keras = import_keras()
    registry = Registry.from_modules({"builtin": flexzoo.builtin, "keras": flexzoo_plugin_keras})
    failed, worst = [], 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for name in names or sorted(SAMPLE):
            started = time.perf_counter()
            try:
                difference = check(keras, registry, Path(tmp), name, SAMPLE.get(name, 32))
            except Exception as exc:  # report every application, then fail
                print(f"{name:20s} FAILED {type(exc).__name__}: {exc}")
                failed.append(name)
                continue
            worst = max(worst, difference)
            verdict = "ok" if difference <= TOLERANCE else "DIFFERS"
            if verdict != "ok":
                failed.append(name)
            print(f"{name:20s} max abs diff {difference:.3g}  {verdict}  ({time.perf_counter() - started:.1f} s)")
    checked = len(names or SAMPLE)
    print(f"{checked - len(failed)} of {checked} applications equal keras's own features (largest diff {worst:.3g})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
