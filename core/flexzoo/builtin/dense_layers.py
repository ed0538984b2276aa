"""The torch modules behind the builtin dense heads (imported only when a model is built)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from flexzoo.builtin.layers import conv_bn_act
from flexzoo.plugin import FeatureMap


class FPNDecoder(nn.Module):
    """Lateral 1x1 projections merged top-down, a 3x3 smoothing, a 1x1 classifier, upsampled to ``size``."""

    def __init__(self, maps: list[FeatureMap], size: tuple[int, int], num_classes: int, width: int) -> None:
        super().__init__()
        self.names = [feature_map.name for feature_map in maps]
        self.lateral = nn.ModuleList(nn.Conv2d(feature_map.channels, width, 1) for feature_map in maps)
        self.smooth = conv_bn_act(width, width, 3, 1, "relu")
        self.classify = nn.Conv2d(width, num_classes, 1)
        self.size = size

    def forward(self, maps: dict[str, torch.Tensor]) -> torch.Tensor:
        merged = None
        for name, lateral in zip(reversed(self.names), reversed(self.lateral)):
            projected = lateral(maps[name])
            if merged is not None:
                projected = projected + F.interpolate(merged, size=projected.shape[-2:], mode="nearest")
            merged = projected
        assert merged is not None
        logits = self.classify(self.smooth(merged))
        return F.interpolate(logits, size=self.size, mode="bilinear", align_corners=False)

    def extra_repr(self) -> str:
        return f"maps={self.names}, size={self.size}"
