"""Splitting the training samples among clients: IID, or non-IID by a Dirichlet draw over the labels (seeded)."""

from __future__ import annotations

import numpy as np

from flexzoo.plugin import ParameterError

MIN_SAMPLES = 10  # a Dirichlet draw that leaves a client fewer samples is drawn again
DRAWS = 100


def partition(labels: np.ndarray | None, samples: int, clients: int, kind: str, alpha: float, seed: int
              ) -> list[np.ndarray]:
    """Each client's positions (sorted, disjoint, together every position ``0 .. samples - 1``)."""
    if samples < clients:
        raise ParameterError("clients", f"{clients} clients but only {samples} training samples")
    rng = np.random.default_rng(seed)
    if kind == "iid":
        return [np.sort(part) for part in np.array_split(rng.permutation(samples), clients)]
    if labels is None:
        raise ParameterError("partitions", "dirichlet partitions spread each class over the clients, and no head "
                             "of this model classifies", 'use partitions = "iid"')
    minimum = min(MIN_SAMPLES, samples // clients)
    for _ in range(DRAWS):
        parts: list[list[np.ndarray]] = [[] for _ in range(clients)]
        for label in np.unique(labels):
            members = rng.permutation(np.flatnonzero(labels == label))
            cuts = (np.cumsum(rng.dirichlet(np.full(clients, alpha)))[:-1] * len(members)).astype(int)
            for client, piece in enumerate(np.split(members, cuts)):
                parts[client].append(piece)
        joined = [np.sort(np.concatenate(part)) for part in parts]
        if min(len(part) for part in joined) >= minimum:
            return joined
    raise ParameterError("alpha", f"{DRAWS} Dirichlet draws with alpha = {alpha} each left a client fewer than "
                         f"{minimum} samples", "raise alpha or use fewer clients")
