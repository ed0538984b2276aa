"""What each head's output means, from the artifact's metadata: classification with labels, or regression.

A head is a classification head when its component has ``num_classes`` and its ``[train.heads.<name>]``
loss (if any) is ``cross_entropy``; its labels are the card's ``heads.<name>.labels`` when recorded, else
the class indices as text. A classification head whose output has more than one value per class
(``(classes, H, W)``) is a segmentation head: its prediction is a class per pixel. Other heads are
regression heads: their outputs are reported as values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["HeadSpec", "describe", "head_specs"]

_REGRESSION_LOSSES = ("mse", "mae", "smooth_l1")


@dataclass(frozen=True)
class HeadSpec:
    name: str
    kind: str  # "classification" | "segmentation" | "regression"
    output_shape: list[int]
    labels: list[str] | None = None

    def label(self, index: int) -> str:
        return self.labels[index] if self.labels and index < len(self.labels) else str(index)


def head_specs(manifest: dict[str, Any], card: dict[str, Any]) -> dict[str, HeadSpec]:
    """Each head's spec, in manifest order."""
    train_heads = (manifest.get("train") or {}).get("heads") or {}
    specs = {}
    for name, head in card["heads"].items():
        params = manifest.get("heads", {}).get(name, {})
        loss = (train_heads.get(name) or {}).get("loss")
        classifies = "num_classes" in params and loss not in _REGRESSION_LOSSES
        labels = head.get("labels")
        kind = "regression" if not classifies else "segmentation" if len(head["output_shape"]) > 2 \
            else "classification"
        specs[name] = HeadSpec(name, kind, list(head["output_shape"]),
                               [str(label) for label in labels] if labels else None)
    return specs


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def describe(outputs: dict[str, np.ndarray], heads: dict[str, HeadSpec], top_k: int = 1) -> list[dict[str, Any]]:
    """Per sample, per head: the top-k labels with probabilities (classification), the class of each pixel
    with each label's pixel count (segmentation), or the values (regression)."""
    count = len(next(iter(outputs.values())))
    results: list[dict[str, Any]] = [{} for _ in range(count)]
    for name, spec in heads.items():
        if spec.kind == "segmentation":
            masks = outputs[name].argmax(axis=1)
            for i in range(count):
                classes, pixels = np.unique(masks[i], return_counts=True)
                results[i][name] = {"mask": masks[i].tolist(),
                                    "pixels": {spec.label(int(c)): int(n) for c, n in zip(classes, pixels)}}
            continue
        values = outputs[name].astype(np.float64).reshape(count, -1)
        if spec.kind == "classification":
            probabilities = _softmax(values)
            order = np.argsort(-probabilities, axis=-1, kind="stable")[:, :top_k]
            for i in range(count):
                top = [{"label": spec.label(int(j)), "probability": float(probabilities[i, j])} for j in order[i]]
                results[i][name] = {"label": top[0]["label"], "top_k": top}
        else:
            for i in range(count):
                results[i][name] = {"values": values[i].tolist()}
    return results
