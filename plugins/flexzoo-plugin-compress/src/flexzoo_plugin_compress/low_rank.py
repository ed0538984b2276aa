"""Low-rank factorization: a Linear layer W (out x in) becomes two, U·S (out x r) after Vᵀ (r x in)."""

from __future__ import annotations

import fnmatch
from typing import Any

import torch
from torch import nn


def _factorized(layer: nn.Linear, rank: int) -> nn.Sequential:
    first = nn.Linear(layer.in_features, rank, bias=False)
    second = nn.Linear(rank, layer.out_features, bias=layer.bias is not None)
    return nn.Sequential(first, second).to(layer.weight.dtype)


def _pays(layer: nn.Linear, rank: int) -> bool:
    """Fewer parameters (hence fewer multiply-adds) after factorizing."""
    return rank * (layer.in_features + layer.out_features) < layer.in_features * layer.out_features


class LowRank:
    """Replace each matching Linear by its truncated SVD, where that makes it smaller."""

    def __init__(self, rank_ratio: float | None, energy: float | None, match: str) -> None:
        self.rank_ratio = rank_ratio
        self.energy = energy
        self.match = match
        self.ranks: dict[str, int] = {}

    def _rank(self, singular: torch.Tensor) -> int:
        if self.rank_ratio is not None:
            return max(1, round(self.rank_ratio * len(singular)))
        kept = torch.cumsum(singular**2, 0) / torch.sum(singular**2)
        return int(torch.searchsorted(kept, torch.tensor(self.energy, dtype=kept.dtype)).item()) + 1

    def _layers(self, model: nn.Module) -> list[tuple[str, nn.Linear]]:
        return [(name, module) for name, module in model.named_modules()
                if isinstance(module, nn.Linear) and fnmatch.fnmatchcase(name, self.match)]

    def __call__(self, model: nn.Module) -> nn.Module:
        for name, layer in self._layers(model):
            with torch.no_grad():
                u, s, vh = torch.linalg.svd(layer.weight.float(), full_matrices=False)
                rank = min(self._rank(s), len(s))
                if not _pays(layer, rank):
                    continue
                replacement = _factorized(layer, rank)
                replacement[0].weight.copy_(vh[:rank])
                replacement[1].weight.copy_(u[:, :rank] * s[:rank])
                if layer.bias is not None:
                    replacement[1].bias.copy_(layer.bias)
            model.set_submodule(name, replacement)
            self.ranks[name] = rank
        return model

    def record(self) -> dict[str, Any]:
        return {"ranks": self.ranks}

    def restore(self, model: nn.Module, record: dict[str, Any]) -> nn.Module:
        for name, rank in record["ranks"].items():
            model.set_submodule(name, _factorized(model.get_submodule(name), rank))
        return model
