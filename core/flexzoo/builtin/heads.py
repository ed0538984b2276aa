"""Builtin heads: a linear classifier and a small MLP."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flexzoo.builtin.backbones import Activation
from flexzoo.builtin.checks import Classes, Layers, Probability

if TYPE_CHECKING:
    from torch import nn


def linear(in_features: int, num_classes: Classes, dropout: Probability = 0.0, bias: bool = True) -> nn.Module:
    """Linear layer on the features (logits for classification, values for regression).

    Args:
        in_features: feature size (from the backbone).
        num_classes: output size.
        dropout: dropout probability before the layer.
        bias: learn an additive bias.
    """
    from flexzoo.builtin.layers import mlp_layers

    return mlp_layers(in_features, [], num_classes, "relu", dropout, bias=bias)


def mlp(
    in_features: int,
    num_classes: Classes,
    hidden: Layers = [128],  # noqa: B006 - never mutated; shown by `zoo info`
    activation: Activation = "relu",
    dropout: Probability = 0.0,
) -> nn.Module:
    """Small MLP on the features: hidden layers, then a linear output.

    Args:
        in_features: feature size (from the backbone).
        num_classes: output size.
        hidden: hidden layer sizes.
        activation: nonlinearity after each hidden layer.
        dropout: dropout probability before each linear layer.
    """
    from flexzoo.builtin.layers import mlp_layers

    return mlp_layers(in_features, list(hidden), num_classes, activation, dropout)
