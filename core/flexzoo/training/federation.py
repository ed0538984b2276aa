"""The host's side of a federated run: what ``Strategy.federate`` gets to train and judge clients' models.

A federated strategy (``[distributed] use = "fedavg"``) takes over the fit: it starts a server and
client processes, and each client trains on its own part of the ``[train]`` data with the run's own
epoch code (``flexzoo.training.fine_tune``), while the server validates the aggregated model.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from flexzoo.manifest.train import TrainConfig
from flexzoo.training.data import Dataset
from flexzoo.training.fine_tune import evaluate, fine_tune

__all__ = ["HostTraining"]

ROUND_SEED_STRIDE = 7919  # keeps the rounds' data orders apart


class HostTraining:
    """:class:`flexzoo.plugin.protocols.LocalTraining` over this run's data and ``[train]`` settings."""

    def __init__(self, config: TrainConfig, data: Dataset, *, seed: int, command: list[str] | None,
                 round_ended: Callable[[dict[str, Any]], None]) -> None:
        self.config = config
        self.data = data
        self.seed = seed
        self.command = command
        self._round_ended = round_ended

    @property
    def train_samples(self) -> int:
        return len(self.data.train_index)

    def labels(self) -> np.ndarray | None:
        for head in self.config.heads:
            if head.task == "classification" and head.weight and head.target in self.data.targets:
                return self.data.targets[head.target][self.data.train_index].long().numpy()
        return None

    def train(self, model: nn.Module, positions: Any, epochs: int, round_number: int) -> dict[str, float]:
        index = self.data.train_index[torch.as_tensor(np.asarray(positions), dtype=torch.long)]
        part = dataclasses.replace(self.data, train_index=index, _loaders={})
        history = fine_tune(model, self.config, part, seed=self.seed + ROUND_SEED_STRIDE * round_number,
                            epochs=epochs, validate=False)
        model.train()
        return {"train_loss": float(np.mean([record["train_loss"] for record in history]))}

    def evaluate(self, model: nn.Module) -> dict[str, float]:
        return evaluate(model, self.config, self.data, seed=self.seed)

    def round_ended(self, record: dict[str, Any]) -> None:
        self._round_ended(record)
