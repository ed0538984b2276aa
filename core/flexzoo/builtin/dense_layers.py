"""The torch modules behind the builtin dense heads (imported only when a model is built)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from flexzoo.builtin.layers import conv_bn_act
from flexzoo.plugin import FeatureMap


class TopDown(nn.Module):
    """Lateral 1x1 projections of the maps to ``width`` channels, added from the coarsest to the finest
    (nearest upsampling), smoothed by a 3x3 convolution: one map at the finest map's stride."""

    def __init__(self, maps: list[FeatureMap], width: int) -> None:
        super().__init__()
        self.names = [feature_map.name for feature_map in maps]
        self.lateral = nn.ModuleList(nn.Conv2d(feature_map.channels, width, 1) for feature_map in maps)
        self.smooth = conv_bn_act(width, width, 3, 1, "relu")

    def forward(self, maps: dict[str, torch.Tensor]) -> torch.Tensor:
        merged = None
        for name, lateral in zip(reversed(self.names), reversed(self.lateral)):
            projected = lateral(maps[name])
            if merged is not None:
                projected = projected + F.interpolate(merged, size=projected.shape[-2:], mode="nearest")
            merged = projected
        assert merged is not None
        return self.smooth(merged)


class FPNDecoder(TopDown):
    """The merged maps, a 1x1 classifier, upsampled to ``size``."""

    def __init__(self, maps: list[FeatureMap], size: tuple[int, int], num_classes: int, width: int) -> None:
        super().__init__(maps, width)
        self.classify = nn.Conv2d(width, num_classes, 1)
        self.size = size

    def forward(self, maps: dict[str, torch.Tensor]) -> torch.Tensor:
        logits = self.classify(super().forward(maps))
        return F.interpolate(logits, size=self.size, mode="bilinear", align_corners=False)

    def extra_repr(self) -> str:
        return f"maps={self.names}, size={self.size}"


class CenterNetHead(TopDown):
    """The merged maps, then a heatmap branch and a box branch (3x3 conv, ReLU, 1x1 conv each), concatenated:
    ``(B, num_classes + 4, h, w)`` in :mod:`flexzoo.features.detection.centernet`'s layout."""

    PRIOR = 0.1  # initial centre probability everywhere (CenterNet's heatmap bias), keeps the focal loss stable

    def __init__(self, maps: list[FeatureMap], num_classes: int, width: int) -> None:
        super().__init__(maps, width)
        self.heatmap = nn.Sequential(nn.Conv2d(width, width, 3, padding=1), nn.ReLU(), nn.Conv2d(width, num_classes, 1))
        self.box = nn.Sequential(nn.Conv2d(width, width, 3, padding=1), nn.ReLU(), nn.Conv2d(width, 4, 1))
        nn.init.constant_(self.heatmap[-1].bias, -math.log((1 - self.PRIOR) / self.PRIOR))

    def forward(self, maps: dict[str, torch.Tensor]) -> torch.Tensor:
        merged = super().forward(maps)
        return torch.cat([self.heatmap(merged), self.box(merged)], dim=1)

    def extra_repr(self) -> str:
        return f"maps={self.names}"
