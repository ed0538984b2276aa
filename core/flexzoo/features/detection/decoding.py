"""A detection head's output as the boxes ``zoo predict`` and ``zoo serve`` answer with."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from flexzoo.features.detection.centernet import decode

if TYPE_CHECKING:
    from flexzoo.inputs.images import ImageGeometry
    from flexzoo.prediction.heads import HeadSpec

__all__ = ["BOX_THRESHOLD", "MAX_BOXES", "boxes"]

#: The lowest score of a box ``zoo predict`` and ``zoo serve`` answer with, and how many boxes at most per image.
BOX_THRESHOLD, MAX_BOXES = 0.3, 100


def boxes(output: np.ndarray, head: HeadSpec, top_k: int = 1,
          geometries: Sequence[ImageGeometry | None] | None = None) -> list[dict[str, Any]]:
    """Per image, the boxes found (label, score, x1, y1, x2, y2), highest score first, those scoring at least
    BOX_THRESHOLD; in the pixels of the image the sample was made of when its ``geometries`` entry says how
    the input maps back onto it, else in the model input's pixels."""
    assert head.input_size is not None, "a detection head is built for (channels, height, width) inputs"
    found = decode(torch.from_numpy(np.ascontiguousarray(output, dtype=np.float32)), head.input_size, MAX_BOXES,
                   BOX_THRESHOLD)
    answers = []
    for i, rows in enumerate(found):
        geometry = geometries[i] if geometries is not None else None
        image = [{"label": head.label(int(row[0])), "score": float(row[1]), "x1": float(row[2]), "y1": float(row[3]),
                  "x2": float(row[4]), "y2": float(row[5])} for row in rows.tolist()]
        answers.append({"boxes": [_in_image(box, geometry) for box in image] if geometry else image})
    return answers


def _in_image(box: dict[str, Any], geometry: ImageGeometry) -> dict[str, Any]:
    """A box's corners in the pixels of the image its input was made of."""
    x1, y1 = geometry.to_image(box["x1"], box["y1"])
    x2, y2 = geometry.to_image(box["x2"], box["y2"])
    return {**box, "x1": x1, "y1": y1, "x2": x2, "y2": y2}
