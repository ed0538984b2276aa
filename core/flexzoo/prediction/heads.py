"""What each head's output means, from the artifact's metadata: classification with labels, or regression.

A head is a classification head when its component has ``num_classes`` and its ``[train.heads.<name>]``
loss (if any) is ``cross_entropy``; its labels are the card's ``heads.<name>.labels`` when recorded, else
the class indices as text. A classification head whose output has more than one value per class
(``(classes, H, W)``) is a segmentation head: its prediction is a class per pixel. A head whose module
declared ``output_kind = "detection"`` (recorded in the card), or trained with the ``centernet`` loss, is a
detection head: its output is decoded to boxes (:func:`flexzoo.features.detection.centernet.decode`). Other heads are
regression heads: their outputs are reported as values.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from flexzoo.inputs.images import ImageGeometry

__all__ = ["HeadSpec", "describe", "head_specs"]

_REGRESSION_LOSSES = ("mse", "mae", "smooth_l1")
#: The lowest score of a box ``zoo predict`` and ``zoo serve`` answer with, and how many boxes at most per image.
BOX_THRESHOLD, MAX_BOXES = 0.3, 100


@dataclass(frozen=True)
class HeadSpec:
    name: str
    kind: str  # "classification" | "segmentation" | "detection" | "regression"
    output_shape: list[int]
    labels: list[str] | None = None
    input_size: tuple[int, int] | None = None  # a detection head's boxes are in these input pixels (height, width)

    def label(self, index: int) -> str:
        return self.labels[index] if self.labels and index < len(self.labels) else str(index)


def head_specs(manifest: dict[str, Any], card: dict[str, Any]) -> dict[str, HeadSpec]:
    """Each head's spec, in manifest order."""
    train_heads = (manifest.get("train") or {}).get("heads") or {}
    input_shape = card.get("input_shape") or []
    specs = {}
    for name, head in card["heads"].items():
        params = manifest.get("heads", {}).get(name, {})
        loss = (train_heads.get(name) or {}).get("loss")
        classifies = "num_classes" in params and loss not in _REGRESSION_LOSSES
        labels = head.get("labels")
        kind = "regression" if not classifies else "segmentation" if len(head["output_shape"]) > 2 \
            else "classification"
        if head.get("kind") == "detection" or loss == "centernet":
            kind = "detection"
        specs[name] = HeadSpec(name, kind, list(head["output_shape"]),
                               [str(label) for label in labels] if labels else None,
                               tuple(input_shape[-2:]) if kind == "detection" and len(input_shape) == 3 else None)
    return specs


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def describe(outputs: dict[str, np.ndarray], heads: dict[str, HeadSpec], top_k: int = 1,
             geometries: Sequence[ImageGeometry | None] | None = None) -> list[dict[str, Any]]:
    """Per sample, per head: the top-k labels with probabilities (classification), the class of each pixel
    with each label's pixel count (segmentation), the boxes found (detection: label, score, x1, y1, x2, y2,
    highest score first, those scoring at least BOX_THRESHOLD), or the values (regression).

    A box is in the pixels of the image the sample was made of when its ``geometries`` entry says how the
    input maps back onto it, else in the model input's pixels."""
    count = len(next(iter(outputs.values())))
    results: list[dict[str, Any]] = [{} for _ in range(count)]
    for name, spec in heads.items():
        if spec.kind == "detection":
            for i, boxes in enumerate(_boxes(outputs[name], spec)):
                geometry = geometries[i] if geometries is not None else None
                results[i][name] = {"boxes": [_in_image(box, geometry) for box in boxes] if geometry else boxes}
            continue
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


def _in_image(box: dict[str, Any], geometry: ImageGeometry) -> dict[str, Any]:
    """A box's corners in the pixels of the image its input was made of."""
    x1, y1 = geometry.to_image(box["x1"], box["y1"])
    x2, y2 = geometry.to_image(box["x2"], box["y2"])
    return {**box, "x1": x1, "y1": y1, "x2": x2, "y2": y2}


def _boxes(output: np.ndarray, spec: HeadSpec) -> list[list[dict[str, Any]]]:
    """A detection head's output decoded to boxes per image (torch is imported here, not with the package)."""
    import torch

    from flexzoo.features.detection.centernet import decode

    assert spec.input_size is not None, "a detection head is built for (channels, height, width) inputs"
    found = decode(torch.from_numpy(np.ascontiguousarray(output, dtype=np.float32)), spec.input_size, MAX_BOXES,
                   BOX_THRESHOLD)
    return [[{"label": spec.label(int(row[0])), "score": float(row[1]), "x1": float(row[2]), "y1": float(row[3]),
              "x2": float(row[4]), "y2": float(row[5])} for row in rows.tolist()] for rows in found]
