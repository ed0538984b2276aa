"""Per-sample summaries: what the drift tests compare, made the same way for the profile and for served requests.

- Inputs: per channel (the first axis of a sample), the mean and standard deviation over the rest of the sample
  (one value per feature for a flat, tabular sample), at most :data:`MAX_INPUT_SUMMARIES` of them.
- Features: the backbone's output pooled to one vector per sample (feature maps averaged over their positions),
  projected to at most :data:`SKETCH_DIMS` dimensions by a seeded Gaussian random projection, which keeps
  distances (Johnson-Lindenstrauss) and so what a kernel two-sample test sees.
- Heads: each classification head's predicted class and its probability (the confidence).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["MAX_INPUT_SUMMARIES", "SKETCH_DIMS", "Sketch", "Summaries", "head_summaries", "input_summaries",
           "input_summary_names", "pooled"]

MAX_INPUT_SUMMARIES = 64
SKETCH_DIMS = 32


def input_summary_names(shape: tuple[int, ...] | list[int]) -> list[str]:
    """The name of each input summary, for a sample of ``shape`` (``["channel 0 mean", "channel 0 std"]``)."""
    shape = tuple(shape)
    if len(shape) <= 1:
        return [f"feature {i}" for i in range(shape[0] if shape else 1)][:MAX_INPUT_SUMMARIES]
    return [f"channel {c} {stat}" for c in range(shape[0]) for stat in ("mean", "std")][:MAX_INPUT_SUMMARIES]


def input_summaries(batch: np.ndarray) -> np.ndarray:
    """``(samples, summaries)`` float32: per channel mean and std (per feature the value, for flat samples)."""
    batch = np.asarray(batch, dtype=np.float32)
    if batch.ndim <= 2:
        flat = batch.reshape(len(batch), -1)
        return flat[:, :MAX_INPUT_SUMMARIES].copy()
    channels = batch.reshape(len(batch), batch.shape[1], -1)
    stats = np.stack([channels.mean(axis=2), channels.std(axis=2)], axis=2)  # (N, C, 2): mean, std per channel
    return stats.reshape(len(batch), -1)[:, :MAX_INPUT_SUMMARIES]


def pooled(features: Any) -> np.ndarray:
    """The backbone's output as ``(samples, features)`` float32: maps averaged over positions, dicts concatenated."""
    if isinstance(features, dict):
        return np.concatenate([pooled(value) for _, value in sorted(features.items())], axis=1)
    array = features.detach().float().cpu().numpy() if hasattr(features, "detach") else np.asarray(features)
    array = array.astype(np.float32, copy=False)
    if array.ndim > 2:
        array = array.reshape(*array.shape[:2], -1).mean(axis=2)
    return array.reshape(len(array), -1)


@dataclass
class Sketch:
    """A seeded random projection of ``size`` pooled features to ``dims`` (no projection when they are few)."""

    size: int
    seed: int = 0
    dims: int = field(init=False)
    _matrix: np.ndarray | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.dims = min(self.size, SKETCH_DIMS)
        if self.size > SKETCH_DIMS:
            generator = np.random.default_rng(self.seed)
            self._matrix = (generator.standard_normal((self.size, SKETCH_DIMS)) / np.sqrt(SKETCH_DIMS)
                            ).astype(np.float32)

    def __call__(self, features: np.ndarray) -> np.ndarray:
        if features.shape[1] != self.size:
            raise ValueError(f"the sketch projects {self.size} features, got {features.shape[1]}")
        return features if self._matrix is None else features @ self._matrix


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def head_summaries(outputs: dict[str, np.ndarray], heads: list[str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per classification head in ``heads``: the predicted class (int64) and its probability (float32)."""
    found = {}
    for name in heads:
        logits = np.asarray(outputs[name], dtype=np.float32)
        probabilities = _softmax(logits.reshape(len(logits), -1))
        found[name] = (probabilities.argmax(axis=1).astype(np.int64), probabilities.max(axis=1))
    return found


@dataclass
class Summaries:
    """The summaries of some samples: inputs ``(N, S)``, sketch ``(N, D)`` or None, and per head class/confidence."""

    inputs: np.ndarray
    sketch: np.ndarray | None
    heads: dict[str, tuple[np.ndarray, np.ndarray]]

    def __len__(self) -> int:
        return len(self.inputs)

    @classmethod
    def join(cls, parts: list[Summaries]) -> Summaries:
        """The summaries of several batches, in order."""
        sketches = [part.sketch for part in parts]
        return cls(np.concatenate([part.inputs for part in parts]),
                   None if any(s is None for s in sketches) else np.concatenate(sketches),
                   {name: (np.concatenate([part.heads[name][0] for part in parts]),
                           np.concatenate([part.heads[name][1] for part in parts])) for name in parts[0].heads})
