"""Clients' partitions: disjoint, covering every training sample, seeded, and skewed when Dirichlet."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_digits

from flexzoo.plugin import ParameterError
from flexzoo_plugin_flower.partitions import partition

LABELS = load_digits().target


@pytest.mark.parametrize("kind", ["iid", "dirichlet"])
def test_partitions_are_disjoint_and_cover_the_data(kind):
    parts = partition(LABELS, len(LABELS), 4, kind, 0.5, seed=3)
    joined = np.concatenate(parts)
    assert len(parts) == 4
    assert len(joined) == len(set(joined.tolist())) == len(LABELS)
    assert sorted(joined.tolist()) == list(range(len(LABELS)))


def test_the_same_seed_draws_the_same_partitions_and_another_seed_others():
    first, again = (partition(LABELS, len(LABELS), 4, "dirichlet", 0.5, seed=1) for _ in range(2))
    other = partition(LABELS, len(LABELS), 4, "dirichlet", 0.5, seed=2)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not all(np.array_equal(a, b) for a, b in zip(first, other))


def test_dirichlet_with_a_small_alpha_skews_the_classes_and_iid_does_not():
    def largest_share(kind):
        parts = partition(LABELS, len(LABELS), 4, kind, 0.1, seed=0)
        return max(np.bincount(LABELS[part], minlength=10).max() / len(part) for part in parts)

    assert largest_share("dirichlet") > 0.3  # some client is dominated by one class
    assert largest_share("iid") < 0.2  # each class is about a tenth everywhere


def test_dirichlet_needs_labels():
    with pytest.raises(ParameterError, match="no head of this model classifies"):
        partition(None, 100, 2, "dirichlet", 0.5, seed=0)
