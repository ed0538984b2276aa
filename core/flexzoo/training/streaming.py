"""Batches of a streamed source: one pass over its files per epoch, each rank and worker decoding its own rows.

A streamed source (the ``huggingface`` source with ``streaming = true``) cannot be indexed. It gives
its rows file by file with their positions (rows counted in file order, so that the seeded validation
split is the one an indexed source of the same rows gets). An epoch's order is shuffled the same way
on every rank and worker: the files are taken in a seeded order, and the training rows in windows
of the source's ``shuffle_buffer`` rows, each window in a seeded order. The j-th row of that order is
at slot ``j % batch_size`` of global batch ``j // batch_size``; the slot belongs to rank
``slot % world`` (the share ``batch[rank::world]`` of indexed sources), and the batch to loader worker
``batch % workers``. So N ranks read each training row once per epoch; every rank and worker reads
every row of the files, decodes only its own, and holds at most one window's share of them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Protocol

import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

from flexzoo.errors import DataError

__all__ = ["ListedPlacement", "ShuffledPlacement", "StreamPass"]


class Placement(Protocol):
    """Where a row goes in a pass: (batch, slot in this rank's share of it), or None when it is not this rank's."""

    def place(self, position: int) -> tuple[int, int] | None: ...


class ListedPlacement:
    """Rows at the positions of given batches (validation shares, a batch asked for by index), in file order."""

    def __init__(self, batches: Sequence[torch.Tensor]) -> None:
        self.where = {int(p): (k, slot) for k, batch in enumerate(batches) for slot, p in enumerate(batch.tolist())}

    def place(self, position: int) -> tuple[int, int] | None:
        return self.where.get(position)


class ShuffledPlacement:
    """An epoch's training rows in windows of ``window`` rows, each in a seeded order, cut into global batches.

    Call ``place`` for every row of the stream, in order: it counts the training rows it has seen.
    """

    def __init__(self, validation: np.ndarray, count: int, seed: int, epoch: int, window: int, batch_size: int,
                 steps: int, rank: int, world: int) -> None:
        self.training = np.ones(count, dtype=bool)
        self.training[validation] = False
        self.rows = int(self.training.sum())
        self.seed, self.epoch, self.window = seed, epoch, window
        self.batch_size, self.steps, self.rank, self.world = batch_size, steps, rank, world
        self.seen = 0
        self._order: np.ndarray | None = None

    def place(self, position: int) -> tuple[int, int] | None:
        if not self.training[position]:
            return None
        window, within = divmod(self.seen, self.window)
        if within == 0:
            size = min(self.window, self.rows - window * self.window)
            self._order = np.random.default_rng([self.seed, self.epoch, window]).permutation(size)
        assert self._order is not None
        self.seen += 1
        batch, slot = divmod(window * self.window + int(self._order[within]), self.batch_size)
        if batch >= self.steps or slot % self.world != self.rank:
            return None
        return batch, slot // self.world


def file_order(files: int, seed: int, epoch: int | None) -> list[int]:
    """The files in their own order (epoch None: validation), else in a seeded order for the epoch."""
    if epoch is None:
        return list(range(files))
    return np.random.default_rng([seed, epoch, files]).permutation(files).tolist()


class StreamPass(IterableDataset):
    """One pass over the source's files, giving this rank's batches in order; worker w gives batches w, w+K, ...

    ``prepare(position, raw)`` turns a row into a sample (or a bad sample); ``collate`` stacks a batch.
    """

    def __init__(self, source: Any, order: list[int], placement: Placement, sizes: Sequence[int], prepare: Any,
                 collate: Any) -> None:
        self.source, self.order, self.placement, self.sizes = source, order, placement, list(sizes)
        self.prepare, self.collate = prepare, collate

    def __iter__(self) -> Iterator[Any]:
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        mine = iter(range(worker, len(self.sizes), workers))
        current = next(mine, None)
        pending: dict[int, dict[int, Any]] = {}
        rows = self.source.rows(self.order)
        while current is not None:
            while current is not None and len(pending.get(current, ())) == self.sizes[current]:
                share = pending.pop(current, {})
                yield self.collate([share[slot] for slot in range(self.sizes[current])])
                current = next(mine, None)
            if current is None:
                break
            found = next(rows, None)
            if found is None:
                raise DataError(f"{self.source.description}: the stream ended before batch {current + 1} was full; "
                                "the files changed while training read them")
            position, raw = found
            placed = self.placement.place(position)
            if placed is not None and placed[0] % workers == worker:
                pending.setdefault(placed[0], {})[placed[1]] = self.prepare(position, raw)
