"""Builtin dense heads, on a backbone's feature maps: per-pixel classes (segmentation)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flexzoo.builtin.checks import Positive
from flexzoo.plugin import FeatureMap, ParameterError

if TYPE_CHECKING:
    from torch import nn


def segmentation(
    feature_maps: list[FeatureMap],
    input_shape: tuple[int, ...],
    num_classes: Positive,
    width: Positive = 32,
) -> nn.Module:
    """FPN-style decoder: per-pixel class logits (B, num_classes, H, W) at the input's size.

    Each map is projected to `width` channels, added top-down from the coarsest to the finest
    (nearest upsampling), smoothed by a 3x3 convolution, classified per pixel and upsampled
    bilinearly to the input's height and width. Train it with loss = "cross_entropy" on masks
    of one class per pixel; metrics = ["miou", "accuracy"].

    Args:
        feature_maps: the backbone's feature maps (set by the host).
        input_shape: one sample's shape (C, H, W), from [model] input_shape.
        num_classes: classes per pixel, background included.
        width: channels of the decoder.
    """
    if len(input_shape) != 3:
        raise ParameterError("input_shape", f"must be (channels, height, width) for `segmentation`, got "
                             f"{list(input_shape)}")
    from flexzoo.builtin.dense_layers import FPNDecoder

    return FPNDecoder(list(feature_maps), (input_shape[1], input_shape[2]), num_classes, width)
