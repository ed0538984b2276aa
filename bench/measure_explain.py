"""Measure explanations (issue 23): localization, sanity, completeness and speed.

    python bench/measure_explain.py [--out DIR]

1. Pointing game on shapes: a cnn is trained on 1000 images of examples/make_shapes.py --masks (seed 0), each
   labelled with the class covering the most pixels; on 200 other images (seed 1) each method explains the true
   class, and a hit is the top-attributed pixel (magnitude summed over channels) inside that class's mask. Chance:
   the mean area of that mask.
2. The randomization test (heads and the last backbone stage re-initialized) for each method, same model.
3. Integrated Gradients' completeness gap on digits (examples/digits.toml, trained) at the default 50 steps.
4. Speed: Predictor.explain of 64 digits with Integrated Gradients (50 steps) against Captum called by hand on the
   same model (median of 5), and the `zoo explain` command's wall time.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import flexzoo
from common import Row
from flexzoo.prediction import Predictor

ROOT = Path(__file__).resolve().parents[1]
METHODS = ("grad_cam", "integrated_gradients", "saliency", "occlusion", "gradient_shap")
TRAIN_IMAGES, TEST_IMAGES, SHAPE_EPOCHS = 1000, 200, 10
DIGIT_EPOCHS, DIGIT_CHANNELS = 8, [32, 64]  # examples/digits.toml's
SAMPLES = 64  # digits explained in the speed row
REPEATS = 5
CHANNELS = [16, 32, 64]  # the shapes CNN's
SMOKE = {"TRAIN_IMAGES": 16, "TEST_IMAGES": 1, "SHAPE_EPOCHS": 1, "DIGIT_EPOCHS": 1, "DIGIT_CHANNELS": [4],
         "SAMPLES": 2, "REPEATS": 1,
         "CHANNELS": [4], "SETTINGS": {"occlusion": {"window": 8, "stride": 8}, "integrated_gradients": {"steps": 4},
                                       "gradient_shap": {"samples": 2}}}
SETTINGS: dict[str, dict] = {}  # each method's settings in the pointing game (default: its own defaults)

SHAPES = """
[model]
name = "shapes-classifier"
seed = 0
input_shape = [3, 32, 32]

[backbone]
use = "cnn"
channels = {channels}

[heads.shape]
use = "linear"
num_classes = 3

[train]
data = "shapes.npz"
epochs = {epochs}
batch_size = 32
optimizer = "adamw"
lr = 0.01
schedule = "cosine"
"""


def _shapes(path: Path, count: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Images, the class covering the most pixels, and the masks."""
    spec = importlib.util.spec_from_file_location("make_shapes", ROOT / "examples" / "make_shapes.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    module.make_shape_masks(path, count, seed)
    with np.load(path) as data:
        x, mask = data["x"], data["mask"]
    areas = np.stack([(mask == 1 + c).sum((1, 2)) for c in range(3)], 1)
    return x, areas.argmax(1), mask


def pointing_game(out: Path) -> dict[str, object]:
    x, label, _ = _shapes(out / "masks-train.npz", TRAIN_IMAGES, 0)
    np.savez(out / "shapes.npz", x=x, shape=label)
    (out / "shapes.toml").write_text(SHAPES.format(epochs=SHAPE_EPOCHS, channels=CHANNELS))
    started = time.perf_counter()
    artifact = flexzoo.train(out / "shapes.toml", out / "model").artifact
    trained_s = time.perf_counter() - started
    test_x, test_label, test_mask = _shapes(out / "masks-test.npz", TEST_IMAGES, 1)
    predictor = Predictor.load(artifact)
    accuracy = float((predictor(test_x)["shape"].argmax(1) == test_label).mean())
    targets = [int(t) for t in test_label]
    inside = np.stack([test_mask[i] == 1 + targets[i] for i in range(len(targets))])
    chance = float(inside.reshape(len(inside), -1).mean(1).mean())
    results: dict[str, object] = {"train_seconds": round(trained_s, 1), "test_accuracy": accuracy, "chance": chance}
    for method in METHODS:
        explanation = predictor.explain(test_x, method, target=targets, sanity=True, **SETTINGS.get(method, {}))
        heat = np.abs(explanation.attributions).sum(1).reshape(len(targets), -1)
        hits = inside.reshape(len(targets), -1)[np.arange(len(targets)), heat.argmax(1)]
        results[method] = {"pointing_game": float(hits.mean()), "sanity": explanation.sanity}
    return results


def digits(out: Path) -> dict[str, object]:
    from captum.attr import IntegratedGradients
    from sklearn.datasets import load_digits

    example = (ROOT / "examples" / "digits.toml").read_text()
    (out / "digits.toml").write_text(example.replace("epochs = 8", f"epochs = {DIGIT_EPOCHS}").replace(
        "channels = [32, 64]", f"channels = {DIGIT_CHANNELS}"))
    artifact = flexzoo.train(out / "digits.toml", out / "digits").artifact
    x = (load_digits().images[-SAMPLES:] / 16.0).astype(np.float32)[:, None]
    predictor = Predictor.load(artifact)
    explanation = predictor.explain(x, "integrated_gradients")
    gap = explanation.gap_summary()

    def ours() -> None:
        predictor.explain(x, "integrated_gradients")

    def by_hand() -> None:
        inputs = torch.from_numpy(x)
        with torch.no_grad():
            target = predictor.model(inputs)["digit"].argmax(1)
        IntegratedGradients(lambda t: predictor.model(t)["digit"]).attribute(
            inputs, baselines=torch.zeros_like(inputs), target=target, n_steps=50)

    def median(run: object) -> float:
        times = []
        for _ in range(REPEATS):
            started = time.perf_counter()
            run()  # type: ignore[operator]
            times.append(time.perf_counter() - started)
        return float(np.median(times))

    by_hand()
    ours()  # warm both
    hand_s, ours_s = median(by_hand), median(ours)
    np.save(out / "digits64.npy", x)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "flexzoo", "explain", str(artifact), str(out / "digits64.npy"),
                    "-o", str(out / "explained")], check=True, capture_output=True)
    cli_s = time.perf_counter() - started
    return {"completeness_gap": gap, "ig_64_seconds": {"predictor_explain": ours_s, "captum_by_hand": hand_s,
                                                        "ratio": ours_s / hand_s, "zoo_explain_cli_wall": cli_s}}


def measure() -> list[Row]:
    """The pointing game of each method against chance, the completeness gap, and the speed against Captum."""
    with tempfile.TemporaryDirectory() as tmp:
        shapes, found = pointing_game(Path(tmp)), digits(Path(tmp))
    rows = []
    for method in METHODS:
        result = shapes[method]
        rows.append(Row(f"explain: pointing game on shapes, {method}", result["pointing_game"], 1.0, "",
                        target=0.8 if method in ("grad_cam", "integrated_gradients") else None,
                        lower_is_better=False,
                        note=f"chance {shapes['chance']:.3f}; test accuracy {shapes['test_accuracy']:.3f}; "
                             f"randomization test: {result['sanity']}"))
    gap, seconds = found["completeness_gap"], found["ig_64_seconds"]
    rows += [
        Row("explain: Integrated Gradients completeness gap on digits vs 1e-2", gap["batch"], 1e-2, "", target=1.0,
            note=f"50 steps, {SAMPLES} digits; median {gap['median']:.2g}, worst {gap['max']:.2g}"),
        Row(f"explain: Predictor.explain IG of {SAMPLES} digits vs Captum by hand", seconds["predictor_explain"],
            seconds["captum_by_hand"], "s", target=1.1,
            note=f"median of {REPEATS}; the `zoo explain` command's wall time: "
                 f"{seconds['zoo_explain_cli_wall']:.2f} s"),
    ]
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="working folder (default: a temporary one)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.out or tmp)
        out.mkdir(parents=True, exist_ok=True)
        print(json.dumps({"shapes": pointing_game(out), "digits": digits(out)}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
