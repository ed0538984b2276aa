"""What the builtin classification, segmentation and regression heads answer per sample (numpy, no torch)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from flexzoo.inputs.images import ImageGeometry
    from flexzoo.prediction.heads import HeadSpec

__all__ = ["classes", "mask", "values"]


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def classes(output: np.ndarray, head: HeadSpec, top_k: int = 1,
            geometries: Sequence[ImageGeometry | None] | None = None) -> list[dict[str, Any]]:
    """The top-k labels with their probabilities (softmax of the logits), highest first."""
    probabilities = _softmax(output.astype(np.float64).reshape(len(output), -1))
    order = np.argsort(-probabilities, axis=-1, kind="stable")[:, :top_k]
    answers = []
    for i in range(len(output)):
        top = [{"label": head.label(int(j)), "probability": float(probabilities[i, j])} for j in order[i]]
        answers.append({"label": top[0]["label"], "top_k": top})
    return answers


def mask(output: np.ndarray, head: HeadSpec, top_k: int = 1,
         geometries: Sequence[ImageGeometry | None] | None = None) -> list[dict[str, Any]]:
    """The class of each pixel, and each label's pixel count."""
    masks = output.argmax(axis=1)
    answers = []
    for sample in masks:
        found, pixels = np.unique(sample, return_counts=True)
        answers.append({"mask": sample.tolist(), "pixels": {head.label(int(c)): int(n) for c, n in zip(found, pixels)}})
    return answers


def values(output: np.ndarray, head: HeadSpec, top_k: int = 1,
           geometries: Sequence[ImageGeometry | None] | None = None) -> list[dict[str, Any]]:
    """The output values, flattened per sample."""
    return [{"values": row.tolist()} for row in output.astype(np.float64).reshape(len(output), -1)]
