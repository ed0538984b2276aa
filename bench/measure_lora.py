"""Issue 13 item 7: LoRA fine-tuning against full fine-tuning, from the same base artifact, on digits.

A CNN is pretrained on the digits 0-4 only (an .npz of those samples), then fine-tuned on all ten
digits (scikit-learn's digits, 20 % held out) with a new 10-class head, three ways, same seed,
epochs and learning rate: every parameter (full), ``[train.lora]`` rank 4 on every Conv layer of
the backbone (the base frozen, adapters and head train), and ``freeze = true`` (the head alone).
Rows: LoRA's validation accuracy and trainable parameters against full fine-tuning's; the
head-only accuracy beside them shows what the adapters add. The LoRA run stores its adapters only
(``store = "adapters"``): its artifact's bytes against the fully fine-tuned artifact's, and whether
it reloads (onto the base) to the very outputs of the model that finished training.

Run alone: ``PYTHONPATH=core python bench/run.py lora``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import load_digits

import flexzoo
from common import Row, write_digits_manifest
from flexzoo.features.lora.training import adapter_parameter_names
from flexzoo.manifest.validation import load_manifest
from flexzoo.pipeline.stages import Pipeline, train

EPOCHS = 8
SMOKE = {"EPOCHS": 1}
#: The base model is bench/common.py's digits CNN, trained on digits 0-4 first.
BASE_TRAIN = """
[train]
data = "first_five.npz"
epochs = {epochs}
lr = 0.01
schedule = "cosine"
"""

TUNE = """
[model]
name = "{name}"
seed = 1

[backbone]
from = "out/bench.safetensors"
{freeze}

[heads.all]
use = "linear"
num_classes = 10

[train]
data = "digits"
epochs = {epochs}
lr = 0.01
schedule = "cosine"

[train.heads.all]
target = "digit"
{lora}
"""

LORA = '\n[train.lora]\nrank = 4\nalpha = 8.0\ntargets = ["*"]\nstore = "adapters"\n'


def run(directory: Path, name: str, freeze: str = "", lora: str = "") -> tuple[float, int, int, int]:
    """Fine-tune ``name``: its final validation accuracy, trainable and total parameters, artifact bytes."""
    path = directory / f"{name}.toml"
    path.write_text(TUNE.format(name=name, freeze=freeze, lora=lora, epochs=EPOCHS))
    manifest = load_manifest(path)
    pipeline = Pipeline(manifest)
    model = pipeline.model()
    if lora:
        pipeline.adapt(model)
    adapters = {f"backbone.{n}" for n in adapter_parameter_names(model.backbone)}
    frozen = bool(freeze or lora)
    trainable = sum(p.numel() for n, p in model.named_parameters()
                    if n in adapters or not (frozen and n.startswith("backbone.")))
    total = sum(p.numel() for n, p in model.named_parameters() if n not in adapters)
    result = train(manifest, directory / "out", show_progress=False)
    assert result.model is not None and result.artifact is not None
    x = torch.rand(64, 1, 8, 8)
    if not torch.equal(flexzoo.load(result.artifact)(x)["all"], result.model(x)["all"]):
        raise AssertionError(f"{name}: the artifact does not reload to the trained model's outputs")
    return result.history[-1]["validation"]["all.accuracy"], trainable, total, result.artifact.stat().st_size


def measure() -> list[Row]:
    with tempfile.TemporaryDirectory() as name:
        directory = Path(name)
        digits = load_digits()
        first = digits.target < 5
        np.savez(directory / "first_five.npz", x=(digits.images[first] / 16.0).astype(np.float32)[:, None],
                 digit=digits.target[first].astype(np.int64))
        base = write_digits_manifest(directory, BASE_TRAIN.format(epochs=EPOCHS), "base.toml")
        train(load_manifest(base), directory / "out", show_progress=False)
        full, full_trainable, total, full_bytes = run(directory, "full")
        lora, lora_trainable, _, lora_bytes = run(directory, "lora", lora=LORA)
        head, head_trainable, _, _ = run(directory, "head", freeze="freeze = true")
    note = (f"base: CNN [16, 32] pretrained on digits 0-4; fine-tuned on 0-9, {EPOCHS} epochs; {total} parameters; "
            f"accuracy: full {full:.3f}, LoRA rank 4 {lora:.3f} ({lora_trainable / total:.1%} trainable), "
            f"head only {head:.3f} ({head_trainable / total:.1%} trainable)")
    return [
        Row("lora: digits 0-9 accuracy vs full fine-tuning", lora, full, "", target=0.95, lower_is_better=False,
            note=note),
        Row("lora: trainable parameters vs full fine-tuning", lora_trainable, full_trainable, "params", target=0.25),
        Row("lora: adapter artifact bytes vs the fully fine-tuned artifact (reloads identical)", lora_bytes,
            full_bytes, "B", target=0.5),
        Row("head only (freeze): accuracy vs full fine-tuning", head, full, "", lower_is_better=False),
    ]


if __name__ == "__main__":
    for row in measure():
        print(row.name, row.value_text(), row.baseline_text(), f"{row.ratio:.3f}", row.note)
