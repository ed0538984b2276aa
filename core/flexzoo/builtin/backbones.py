"""Builtin backbones, pure torch: a multilayer perceptron and a small residual CNN."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from flexzoo.builtin.checks import Depth, Kernel, Probability, Stages, Widths
from flexzoo.plugin import ParameterError

if TYPE_CHECKING:
    from torch import nn

Activation = Literal["relu", "gelu", "silu", "tanh", "leaky_relu"]
Norm = Literal["batch", "layer", "none"]
Returns = Literal["pooled", "maps"]


def mlp(
    input_shape: tuple[int, ...],
    widths: Widths = [256, 128],  # noqa: B006 - never mutated; shown by `zoo info`
    activation: Activation = "relu",
    dropout: Probability = 0.0,
    norm: Norm = "none",
) -> nn.Module:
    """Multilayer perceptron on the flattened input.

    Args:
        input_shape: one sample's shape (from [model] input_shape).
        widths: hidden layer sizes; the last is the feature size.
        activation: nonlinearity after each layer.
        dropout: dropout probability after each layer.
        norm: normalization after each linear layer.
    """
    from flexzoo.builtin.layers import MLPBackbone

    in_features = 1
    for size in input_shape:
        in_features *= size
    return MLPBackbone(in_features, list(widths), activation, dropout, norm)


def cnn(
    input_shape: tuple[int, ...],
    channels: Stages = [16, 32],  # noqa: B006 - never mutated; shown by `zoo info`
    depth: Depth = 1,
    kernel_size: Kernel = 3,
    activation: Activation = "relu",
    dropout: Probability = 0.0,
    drop_path_rate: Probability = 0.0,
    returns: Returns = "pooled",
) -> nn.Module:
    """Residual CNN: a stem, then one stage per entry of `channels`, then global average pooling.

    For heads that take feature maps it returns each stage's map instead: ``stage0`` (stride 1),
    ``stage1`` (stride 2), ... with the stage's channels.

    Args:
        input_shape: one sample's shape (C, H, W), from [model] input_shape.
        channels: width of each stage; every stage after the first halves the resolution.
        depth: residual blocks per stage.
        kernel_size: odd convolution kernel size.
        activation: nonlinearity.
        dropout: dropout probability on the pooled features.
        drop_path_rate: stochastic depth; the drop rate grows linearly to this value over the blocks.
        returns: "pooled" features (batch, channels[-1]), or the stages' "maps" (set by the host from the heads).
    """
    if len(input_shape) != 3:
        raise ParameterError("input_shape", f"must be (channels, height, width) for `cnn`, got {list(input_shape)}",
                             "give [model] input_shape as [channels, height, width], e.g. [1, 8, 8]")
    if kernel_size % 2 == 0:
        raise ParameterError("kernel_size", f"must be odd, got {kernel_size}", "use 1, 3, 5 or 7")
    from flexzoo.builtin.layers import ConvBackbone

    return ConvBackbone(input_shape[0], list(channels), depth, kernel_size, activation, dropout, drop_path_rate,
                        maps=returns == "maps")
