"""The model-randomization test of Adebayo et al. 2018 ("Sanity Checks for Saliency Maps").

A map that explains the model must change when the model's learned weights are destroyed. A copy of the
model gets its heads and its last backbone stage re-initialized (each module's own ``reset_parameters``,
under a fixed seed); the same samples are explained again for the same targets; per sample, the
Spearman rank correlation between the two maps' magnitudes (summed over channels) is measured. A method
passes when the mean correlation is below :data:`PASS_BELOW`. A map that becomes constant carries no
ranking at all and counts as correlation 0.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from flexzoo.explain.attribution import Explanation, attribute

if TYPE_CHECKING:
    from torch import nn

    from flexzoo.plugin.protocols import Explainer
    from flexzoo.prediction.heads import HeadSpec

__all__ = ["PASS_BELOW", "position_map", "randomization_test", "randomized", "rank_correlations"]

#: A method passes when its maps' mean rank correlation with the randomized model's is below this.
PASS_BELOW = 0.5


def randomized(model: nn.Module, modules: list[str], seed: int = 0) -> nn.Module:
    """A copy of ``model`` whose named modules (and everything inside them) are re-initialized."""
    import torch

    copied = copy.deepcopy(model)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for name in modules:
            for module in copied.get_submodule(name).modules():
                reset = getattr(module, "reset_parameters", None)
                if callable(reset):
                    reset()
    return copied.eval()


def position_map(attributions: np.ndarray, input_rank: int) -> np.ndarray:
    """``(B, positions)``: each position's attribution magnitude (images: summed over channels)."""
    magnitude = np.abs(attributions)
    if input_rank == 3:  # (B, C, H, W) or (B, 1, H, W)
        magnitude = magnitude.sum(1)
    return magnitude.reshape(len(magnitude), -1)


def rank_correlations(first: np.ndarray, second: np.ndarray) -> list[float]:
    """Per row, Spearman's rank correlation (ties averaged); 0 where either row is constant."""
    from scipy.stats import rankdata

    found = []
    for a, b in zip(first, second):
        if np.ptp(a) == 0 or np.ptp(b) == 0:
            found.append(0.0)
            continue
        found.append(float(np.corrcoef(rankdata(a), rankdata(b))[0, 1]))
    return found


def randomization_test(model: nn.Module, batch: np.ndarray, explainer: Explainer, original: Explanation,
                       heads: Mapping[str, HeadSpec], reset: list[str], seed: int = 0) -> dict[str, Any]:
    """Explain ``batch`` again on a copy with ``reset`` re-initialized; how much the maps still agree."""
    copied = randomized(model, reset, seed)
    again = attribute(copied, batch, explainer, original.method, heads, original.head, original.targets,
                      original.layer)
    rank = len(batch.shape) - 1
    correlations = rank_correlations(position_map(original.attributions, rank), position_map(again.attributions, rank))
    mean = float(np.mean(correlations))
    return {"randomized": reset, "seed": seed, "spearman": {"mean": mean, "max": max(correlations)},
            "pass_below": PASS_BELOW, "passed": mean < PASS_BELOW}

