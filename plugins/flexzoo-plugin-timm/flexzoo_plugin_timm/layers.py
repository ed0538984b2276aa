"""Modules around timm models (imports torch)."""

from __future__ import annotations

import torch
from torch import nn


class PooledStages(nn.Module):
    """timm's ``features_only`` model, each selected stage pooled to (B, C_i), concatenated to (B, sum C_i).

    The stages stay available to code that wants the maps: ``stages(x)`` returns the list of
    (B, C_i, H_i, W_i) tensors, and ``stage_channels`` their channel counts, in order.
    """

    def __init__(self, features: nn.Module, pool: str = "avg") -> None:
        super().__init__()
        self.features = features
        self.pool = pool
        self.stage_channels: list[int] = list(features.feature_info.channels())
        self.num_features = sum(self.stage_channels)

    def stages(self, x: torch.Tensor) -> list[torch.Tensor]:
        return list(self.features(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        reduce = torch.amax if self.pool == "max" else torch.mean
        return torch.cat([reduce(stage, dim=(2, 3)) for stage in self.stages(x)], dim=1)
