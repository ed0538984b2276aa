"""Builtin dense heads, on a backbone's feature maps: per-pixel classes (segmentation), boxes (detection)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flexzoo.builtin.checks import Classes, Positive, Width
from flexzoo.plugin import FeatureMap, ParameterError

if TYPE_CHECKING:
    from torch import nn


def segmentation(
    feature_maps: list[FeatureMap],
    input_shape: tuple[int, ...],
    num_classes: Classes,
    width: Width = 32,
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


def detection(
    feature_maps: list[FeatureMap],
    input_shape: tuple[int, ...],
    num_classes: Classes,
    width: Width = 32,
    stride: Positive = 4,
) -> nn.Module:
    """Anchor-free, CenterNet-style detector: centre heatmaps, box sizes and offsets (B, num_classes + 4, H/s, W/s).

    The maps of stride `stride` and coarser are projected to `width` channels and merged top-down (as in
    `segmentation`) onto the map of stride `stride`; two small branches predict per cell the class-centre
    heatmap logits (num_classes channels) and the box (width, height in cells, centre offset x, y). One
    tensor, so export and serving carry it unchanged; `zoo predict` decodes it to boxes. Train it with
    loss = "centernet" on boxes (samples, K, 5) of rows [class, x1, y1, x2, y2] in input pixels, class
    -1 on unused rows; metrics = ["map50", "map"].

    Args:
        feature_maps: the backbone's feature maps (set by the host).
        input_shape: one sample's shape (C, H, W), from [model] input_shape.
        num_classes: object classes (no background class).
        width: channels of the neck and the branches.
        stride: the output map's stride in input pixels: one of the backbone's map strides.
    """
    if len(input_shape) != 3:
        raise ParameterError("input_shape", f"must be (channels, height, width) for `detection`, got "
                             f"{list(input_shape)}")
    used = [feature_map for feature_map in feature_maps if feature_map.stride >= stride]
    if not used or used[0].stride != stride:
        raise ParameterError("stride", f"must be the stride of one of the backbone's maps "
                             f"({', '.join(str(m.stride) for m in feature_maps)}), got {stride}")
    from flexzoo.builtin.dense_layers import CenterNetHead

    return CenterNetHead(used, num_classes, width)
