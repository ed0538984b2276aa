"""Low-rank factorization from the truncated SVD of each layer's weight.

- Linear W (out x in) becomes Linear(in -> r) then Linear(r -> out), holding Vᵀ and U·S.
- Conv2d W (out x in x k x k), seen as out x (in·k·k), becomes Conv2d(in -> r, k x k, same stride and
  padding) then a 1 x 1 Conv2d(r -> out) with the bias. Grouped and dilated convolutions are left alone.

A layer is replaced only where the two factors hold fewer weights (hence fewer multiply-adds).
"""

from __future__ import annotations

import fnmatch
from typing import Any

import torch
from torch import nn


def _factorized(layer: nn.Module, rank: int) -> nn.Sequential:
    bias = layer.bias is not None
    if isinstance(layer, nn.Linear):
        first: nn.Module = nn.Linear(layer.in_features, rank, bias=False)
        second: nn.Module = nn.Linear(rank, layer.out_features, bias=bias)
    else:
        first = nn.Conv2d(layer.in_channels, rank, layer.kernel_size, layer.stride, layer.padding, bias=False,
                          padding_mode=layer.padding_mode)
        second = nn.Conv2d(rank, layer.out_channels, 1, bias=bias)
    return nn.Sequential(first, second).to(layer.weight.dtype)


def _factorizable(module: nn.Module) -> bool:
    if isinstance(module, nn.Linear):
        return True
    return isinstance(module, nn.Conv2d) and module.groups == 1 and module.dilation == (1, 1) \
        and isinstance(module.padding, tuple)


def _pays(weight: torch.Tensor, rank: int) -> bool:
    rows, columns = weight.shape[0], weight[0].numel()
    return rank * (rows + columns) < rows * columns


class LowRank:
    """Replace each matching Linear and Conv2d by its truncated SVD, where that makes it smaller."""

    restores_on_meta = True  # restore reshapes, replaces or casts modules: no tensor values needed

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

    def _layers(self, model: nn.Module) -> list[tuple[str, nn.Module]]:
        return [(name, module) for name, module in model.named_modules()
                if _factorizable(module) and fnmatch.fnmatchcase(name, self.match)]

    def __call__(self, model: nn.Module) -> nn.Module:
        for name, layer in self._layers(model):
            with torch.no_grad():
                matrix = layer.weight.float().reshape(layer.weight.shape[0], -1)
                u, s, vh = torch.linalg.svd(matrix, full_matrices=False)
                rank = min(self._rank(s), len(s))
                if not _pays(layer.weight, rank):
                    continue
                replacement = _factorized(layer, rank)
                replacement[0].weight.copy_(vh[:rank].reshape(replacement[0].weight.shape))
                replacement[1].weight.copy_((u[:, :rank] * s[:rank]).reshape(replacement[1].weight.shape))
                if layer.bias is not None:
                    replacement[1].bias.copy_(layer.bias)
            model.set_submodule(name, replacement)
            self.ranks[name] = rank
        return model

    def record(self) -> dict[str, Any]:
        return {"ranks": self.ranks}

    def restore(self, model: nn.Module, record: dict[str, Any]) -> nn.Module:
        self.ranks = dict(record["ranks"])
        for name, rank in record["ranks"].items():
            model.set_submodule(name, _factorized(model.get_submodule(name), rank))
        return model
