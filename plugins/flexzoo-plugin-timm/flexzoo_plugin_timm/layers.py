"""Modules around timm models (imports torch)."""

from __future__ import annotations

import torch
from torch import nn

from flexzoo.plugin import FeatureMap


class PooledStages(nn.Module):
    """timm's ``features_only`` model, each selected stage pooled to (B, C_i), concatenated to (B, sum C_i).

    With ``maps`` (for heads that take feature maps) it returns the stages' maps instead, named by
    timm's module names, as ``feature_maps`` declares them (channels and reduction from timm's
    ``feature_info``). ``stages(x)`` returns the list of (B, C_i, H_i, W_i) tensors either way.
    """

    def __init__(self, features: nn.Module, pool: str = "avg", maps: bool = False) -> None:
        super().__init__()
        self.features = features
        self.pool = pool
        info = features.feature_info
        self.stage_channels: list[int] = list(info.channels())
        self.num_features = sum(self.stage_channels)
        self.feature_maps = tuple(FeatureMap(name, channels, stride) for name, channels, stride in
                                  zip(info.module_name(), self.stage_channels, info.reduction())) if maps else ()

    def stages(self, x: torch.Tensor) -> list[torch.Tensor]:
        return list(self.features(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor | dict[str, torch.Tensor]:
        if self.feature_maps:
            return {feature_map.name: stage for feature_map, stage in zip(self.feature_maps, self.stages(x))}
        reduce = torch.amax if self.pool == "max" else torch.mean
        return torch.cat([reduce(stage, dim=(2, 3)) for stage in self.stages(x)], dim=1)
