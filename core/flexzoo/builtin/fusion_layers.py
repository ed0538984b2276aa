"""The modules behind the builtin fusions (imported when a factory is called: torch is loaded here)."""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
from torch import nn

from flexzoo.plugin import Backbone


class Fusion(nn.Module):
    """Runs each branch on its input and joins the features (``join``, for subclasses).

    ``forward`` takes one tensor per input in branch order, or a single dict keyed by input name.
    """

    def __init__(self, branches: Mapping[str, Backbone], features: Mapping[str, int]) -> None:
        super().__init__()
        self.names = list(branches)
        self.branches = nn.ModuleDict(dict(branches))
        self.features = {name: int(features[name]) for name in self.names}

    def forward(self, *inputs: torch.Tensor | Mapping[str, torch.Tensor]) -> torch.Tensor:
        if len(inputs) == 1 and isinstance(inputs[0], Mapping):
            named = inputs[0]
            missing = [name for name in self.names if name not in named]
            if missing:
                raise ValueError(f"the model takes the inputs {self.names}; missing {missing}")
            tensors = [named[name] for name in self.names]
        else:
            if len(inputs) != len(self.names):
                raise ValueError(f"the model takes {len(self.names)} inputs ({', '.join(self.names)}), "
                                 f"got {len(inputs)}")
            tensors = list(inputs)
        return self.join([self.branches[name](x) for name, x in zip(self.names, tensors)])

    def join(self, features: list[torch.Tensor]) -> torch.Tensor:
        raise NotImplementedError


class Concat(Fusion):
    def __init__(self, branches: Mapping[str, Backbone], features: Mapping[str, int]) -> None:
        super().__init__(branches, features)
        self.num_features = sum(self.features.values())

    def join(self, features: list[torch.Tensor]) -> torch.Tensor:
        return torch.cat(features, dim=-1)


class Sum(Fusion):
    def __init__(self, branches: Mapping[str, Backbone], features: Mapping[str, int], width: int) -> None:
        super().__init__(branches, features)
        self.projections = nn.ModuleDict({name: nn.Linear(size, width) for name, size in self.features.items()})
        self.num_features = width

    def join(self, features: list[torch.Tensor]) -> torch.Tensor:
        projected = [self.projections[name](f) for name, f in zip(self.names, features)]
        return torch.stack(projected, dim=0).sum(dim=0)


class Attention(Sum):
    def __init__(self, branches: Mapping[str, Backbone], features: Mapping[str, int], width: int) -> None:
        super().__init__(branches, features, width)
        self.keys = nn.Linear(width, width)
        self.query = nn.Parameter(torch.randn(width) / math.sqrt(width))

    def join(self, features: list[torch.Tensor]) -> torch.Tensor:
        tokens = torch.stack([self.projections[name](f) for name, f in zip(self.names, features)], dim=1)
        scores = self.keys(tokens) @ self.query / math.sqrt(tokens.shape[-1])  # (batch, inputs)
        weights = torch.softmax(scores, dim=1).unsqueeze(-1)
        return (weights * tokens).sum(dim=1)
