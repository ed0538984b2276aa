"""The reference profile: what the model saw and said on held-out data, recorded in the artifact.

``zoo train`` and ``zoo build`` with data run the finished model on a seeded sample of at most
:data:`PROFILE_SAMPLES` held-out samples (the validation split; the training split when there is none) and
record their summaries (:mod:`~flexzoo.monitoring.summaries`) under the artifact's ``profile`` key: per-sample
input statistics, the feature sketch, and per classification head the class proportions, the confidences and a
confidence histogram. A few hundred kilobytes of JSON at most, and a few model calls to make. Artifacts written
without one still load; they are served without drift scores.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from flexzoo.monitoring.summaries import Sketch, Summaries, head_summaries, input_summaries, input_summary_names, pooled

__all__ = ["PROFILE_SAMPLES", "Profile", "reference_profile"]

PROFILE_SAMPLES = 512
PROFILE_FORMAT = 1
HISTOGRAM_BINS = 20
_BATCH = 128


def _rounded(array: np.ndarray, digits: int = 4) -> list[Any]:
    return np.round(array.astype(np.float64), digits).tolist()


@dataclass
class Profile:
    """A reference profile, as stored (:meth:`as_dict`) and as the drift tests use it."""

    input_shape: list[int]
    reference: Summaries
    classes: dict[str, int]  # classification head -> number of classes
    feature_size: int | None = None
    sketch_seed: int = 0

    @property
    def input_names(self) -> list[str]:
        return input_summary_names(self.input_shape)

    def sketch(self) -> Sketch | None:
        return Sketch(self.feature_size, self.sketch_seed) if self.feature_size else None

    def proportions(self, head: str) -> np.ndarray:
        """The reference's predicted class proportions for ``head`` (a class never predicted gets half a count)."""
        counts = np.bincount(self.reference.heads[head][0], minlength=self.classes[head]).astype(np.float64) + 0.5
        return counts / counts.sum()

    def as_dict(self) -> dict[str, Any]:
        reference = self.reference
        heads = {}
        for name, (classes, confidence) in reference.heads.items():
            counts, edges = np.histogram(confidence, bins=HISTOGRAM_BINS, range=(0.0, 1.0))
            heads[name] = {"classes": self.classes[name], "predicted": classes.tolist(),
                           "proportions": _rounded(self.proportions(name), 6),
                           "confidence": _rounded(confidence, 4),
                           "confidence_histogram": {"edges": _rounded(edges, 3), "counts": counts.tolist()}}
        return {"format": PROFILE_FORMAT, "samples": len(reference), "input_shape": list(self.input_shape),
                "inputs": {"names": self.input_names, "summaries": _rounded(reference.inputs, 4)},
                "features": None if reference.sketch is None else {
                    "size": self.feature_size, "seed": self.sketch_seed, "sketch": _rounded(reference.sketch, 4)},
                "heads": heads}

    @classmethod
    def from_dict(cls, stored: dict[str, Any]) -> Profile:
        features = stored.get("features")
        heads = stored.get("heads") or {}
        reference = Summaries(
            np.asarray(stored["inputs"]["summaries"], dtype=np.float32),
            None if not features else np.asarray(features["sketch"], dtype=np.float32),
            {name: (np.asarray(head["predicted"], dtype=np.int64), np.asarray(head["confidence"], dtype=np.float32))
             for name, head in heads.items()})
        return cls(list(stored["input_shape"]), reference, {name: int(head["classes"]) for name, head in heads.items()},
                   features["size"] if features else None, features["seed"] if features else 0)


def classification_heads(outputs: dict[str, np.ndarray], head_parameters: dict[str, dict[str, Any]]) -> list[str]:
    """The heads whose output is one score per class: a ``num_classes`` parameter and ``(N, classes)`` outputs."""
    return [name for name, value in outputs.items()
            if "num_classes" in head_parameters.get(name, {}) and value.ndim == 2 and value.shape[1] >= 2]


def reference_profile(model: Any, inputs: Any, head_parameters: dict[str, dict[str, Any]], seed: int = 0
                      ) -> Profile:
    """Run ``model`` (a built model: ``backbone`` and ``heads``) on ``inputs`` (a float tensor of samples) and
    summarize what it saw and said.

    :param head_parameters: each head's manifest parameters (a classification head has ``num_classes``).
    """
    import torch

    captured: list[np.ndarray] = []
    hook = model.backbone.register_forward_hook(lambda module, args, output: captured.append(pooled(output)))
    outputs: dict[str, list[np.ndarray]] = {}
    try:
        with torch.inference_mode():
            for start in range(0, len(inputs), _BATCH):
                answered = model(inputs[start:start + _BATCH])
                for name, value in answered.items():
                    outputs.setdefault(name, []).append(value.float().cpu().numpy())
    finally:
        hook.remove()
    joined = {name: np.concatenate(values) for name, values in outputs.items()}
    heads = classification_heads(joined, head_parameters)
    features = np.concatenate(captured) if captured else None
    if features is not None and len(features) != len(inputs):  # the backbone ran more than once per call
        features = None
    sketch = Sketch(features.shape[1], seed) if features is not None else None
    summaries = Summaries(input_summaries(inputs.float().cpu().numpy()),
                          sketch(features) if sketch is not None else None, head_summaries(joined, heads))
    return Profile(list(inputs.shape[1:]), summaries, {name: int(joined[name].shape[1]) for name in heads},
                   features.shape[1] if features is not None else None, seed)
