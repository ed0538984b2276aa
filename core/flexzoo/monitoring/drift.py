"""Drift scores: a window of served samples against the reference profile, with scipy's two-sample tests.

Each test gives a p-value under "the window comes from the reference's distribution":

- ``inputs``: a Kolmogorov-Smirnov test (``scipy.stats.ks_2samp``) per input summary (channel mean and std);
- ``features``: the maximum mean discrepancy of the feature sketches (Gaussian kernel, median-distance bandwidth),
  its p-value from a permutation test (``scipy.stats.permutation_test``, seeded) with enough permutations that its
  smallest possible p-value, 1 / (permutations + 1), is a tenth of the corrected level (with a fixed 999, a model
  with ten tests or more could never find drift in its features). The test is screened first: 99 permutations
  settle a window far from drift (p-value at least 0.05 and ten times the level), and only the others pay for the
  full count, with permutations of their own. A window is found drifting only by the full test, which is valid on
  its own, so the screen adds no false alarms, and the usual window costs 99 permutations rather than thousands;
- per classification head, ``classes``: a chi-square test of homogeneity (``scipy.stats.chi2_contingency``) of
  the predicted class counts of reference and window (the reference's counts are a sample too), with the
  Jensen-Shannon distance of their proportions as the score; and ``confidence``:
  a Kolmogorov-Smirnov test of the predicted class's probability, with the shift of its mean as the score.

The window drifts when any p-value is below ``alpha / m`` (Bonferroni over all ``m`` tests), so that a window
drawn from the reference's distribution raises a false alarm with probability at most ``alpha``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats
from scipy.spatial.distance import cdist, jensenshannon

from flexzoo.monitoring.profile import Profile
from flexzoo.monitoring.summaries import Summaries

__all__ = ["DEFAULT_ALPHA", "Scores", "Test", "drift_scores"]

DEFAULT_ALPHA = 0.01
PERMUTATIONS = 999  # at least; more when the corrected level is below 0.01 (see _permutations)
SCREEN = 99  # the screening permutations: the smallest p-value they give is 0.01
SCREEN_SETTLES = 0.05  # a screening p-value at least this (and ten times the level) settles the window
MMD_REFERENCE = 200  # reference sketches the kernel test takes (a seeded choice): its cost grows as the square


@dataclass(frozen=True)
class Test:
    """One two-sample test: what it compares, its score (larger is further apart) and p-value."""

    name: str
    method: str
    score: float
    p_value: float


@dataclass
class Scores:
    """A window's tests and verdict."""

    samples: int
    alpha: float
    tests: list[Test] = field(default_factory=list)

    @property
    def threshold(self) -> float:
        """The Bonferroni-corrected level each p-value is held to."""
        return self.alpha / max(len(self.tests), 1)

    @property
    def drift(self) -> bool:
        return any(test.p_value < self.threshold for test in self.tests)

    def drifted(self) -> list[str]:
        """The names of the tests that found drift."""
        return [test.name for test in self.tests if test.p_value < self.threshold]

    def as_dict(self) -> dict[str, Any]:
        return {"samples": self.samples, "alpha": self.alpha, "threshold": self.threshold, "drift": self.drift,
                "drifted": self.drifted(),
                "tests": [{"name": t.name, "method": t.method, "score": t.score, "p_value": t.p_value,
                           "drift": t.p_value < self.threshold} for t in self.tests]}


def _permutations(threshold: float) -> int:
    """Permutations enough to resolve ``threshold``: the smallest p-value they can give is a tenth of it."""
    return max(PERMUTATIONS, int(np.ceil(10 / threshold)) - 1)


def _mmd_test(reference: np.ndarray, window: np.ndarray, seed: int, threshold: float) -> Test:
    """MMD² (biased) with a Gaussian kernel; the permutation test relabels the pooled samples, screened (see the
    module's docstring).

    The kernel matrix is computed once: the statistic of a relabelling ``w`` (1/n on one side, -1/m on the
    other) is ``w K wᵀ``, so a batch of permutations is one matrix product.
    """
    if len(reference) > MMD_REFERENCE:
        chosen = np.random.default_rng(seed).choice(len(reference), MMD_REFERENCE, replace=False)
        reference = reference[np.sort(chosen)]
    pooled = np.concatenate([reference, window]).astype(np.float64)
    squared = cdist(pooled, pooled, "sqeuclidean")
    bandwidth = np.median(squared[np.triu_indices(len(pooled), 1)]) or 1.0
    kernel = np.exp(-squared / bandwidth).astype(np.float32)  # float32: the permutations' products run twice as fast

    def statistic(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
        x, y = np.atleast_2d(x).astype(np.int64), np.atleast_2d(y).astype(np.int64)
        weights = np.zeros((len(x), len(pooled)), dtype=np.float32)
        rows = np.arange(len(x))[:, None]
        weights[rows, x] = 1.0 / x.shape[1]
        weights[rows, y] = -1.0 / y.shape[1]
        values = np.einsum("bi,bi->b", weights @ kernel, weights).astype(np.float64)
        return values if values.shape[0] > 1 else values[0]

    indices = np.arange(len(pooled))
    streams = np.random.SeedSequence(seed).spawn(2)  # the full test's permutations are not the screen's

    def p_value(permutations: int, stream: np.random.SeedSequence) -> Any:
        return stats.permutation_test((indices[:len(reference)], indices[len(reference):]), statistic,
                                      permutation_type="independent", vectorized=True, n_resamples=permutations,
                                      alternative="greater", batch=250, random_state=np.random.default_rng(stream))

    permutations, result = SCREEN, p_value(SCREEN, streams[0])
    if result.pvalue < max(SCREEN_SETTLES, 10 * threshold):  # not settled: the full test decides
        permutations = _permutations(threshold)
        result = p_value(permutations, streams[1])
    return Test("features", f"MMD (permutation test, {permutations} permutations)", float(result.statistic),
                float(result.pvalue))


def drift_scores(profile: Profile, window: Summaries, alpha: float = DEFAULT_ALPHA, seed: int = 0) -> Scores:
    """Every test of ``window`` against ``profile``'s reference (see the module's docstring)."""
    reference = profile.reference
    scores = Scores(len(window), alpha)
    names = profile.input_names[:window.inputs.shape[1]]
    with_features = reference.sketch is not None and window.sketch is not None
    heads = [head for head in window.heads if head in reference.heads]
    threshold = alpha / max(len(names) + with_features + 2 * len(heads), 1)  # what Scores.threshold will be
    for column, name in enumerate(names):
        result = stats.ks_2samp(reference.inputs[:, column], window.inputs[:, column])
        scores.tests.append(Test(f"inputs: {name}", "Kolmogorov-Smirnov", float(result.statistic),
                                 float(result.pvalue)))
    if with_features:
        scores.tests.append(_mmd_test(reference.sketch, window.sketch, seed, threshold))
    for head in heads:
        classes, confidence = window.heads[head]
        size = profile.classes[head]
        table = np.stack([np.bincount(reference.heads[head][0], minlength=size)[:size],
                          np.bincount(classes, minlength=size)[:size]]).astype(np.float64)
        table = table[:, table.sum(axis=0) > 0]  # a class neither side predicted says nothing
        p_value = float(stats.chi2_contingency(table).pvalue) if table.shape[1] > 1 else 1.0
        scores.tests.append(Test(f"{head}: classes", "chi-square test of homogeneity (score: Jensen-Shannon "
                                 "distance)", float(jensenshannon(table[0], table[1], base=2)), p_value))
        shift = stats.ks_2samp(reference.heads[head][1], confidence)
        scores.tests.append(Test(f"{head}: confidence", "Kolmogorov-Smirnov (score: shift of the mean)",
                                 float(confidence.mean() - reference.heads[head][1].mean()), float(shift.pvalue)))
    return scores
