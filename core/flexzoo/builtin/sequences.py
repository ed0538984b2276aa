"""Builtin sequence backbones: LSTM, GRU and a Transformer encoder over input ``(T, F)``.

``[model] input_shape = [T, F]``: ``T`` steps of ``F`` values each (8x8 digits read row by row are
``[8, 8]``). Each returns one feature vector per sequence, so every head works on top of them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from flexzoo.builtin.checks import Depth, Heads, Probability, Width
from flexzoo.plugin import ParameterError

if TYPE_CHECKING:
    from torch import nn

RecurrentPooling = Literal["last", "mean"]


def _steps_and_features(input_shape: tuple[int, ...], name: str) -> tuple[int, int]:
    if len(input_shape) != 2:
        raise ParameterError("input_shape", f"must be (steps, features) for `{name}`, got {list(input_shape)}",
                             "give [model] input_shape as [steps, features], e.g. [8, 8] for digits read row by row")
    return input_shape[0], input_shape[1]


def lstm(
    input_shape: tuple[int, ...],
    hidden_size: Width = 64,
    num_layers: Depth = 1,
    bidirectional: bool = False,
    dropout: Probability = 0.0,
    pooling: RecurrentPooling = "last",
) -> nn.Module:
    """LSTM over the steps of a (T, F) input; features are its final state (both directions when bidirectional).

    Args:
        input_shape: one sample's shape (steps, features), from [model] input_shape.
        hidden_size: state size per direction.
        num_layers: stacked LSTM layers.
        bidirectional: also read the sequence backwards; doubles the feature size.
        dropout: dropout between stacked layers (needs num_layers > 1).
        pooling: "last": the final hidden state; "mean": the outputs averaged over the steps.
    """
    return _recurrent("lstm", input_shape, hidden_size, num_layers, bidirectional, dropout, pooling)


def gru(
    input_shape: tuple[int, ...],
    hidden_size: Width = 64,
    num_layers: Depth = 1,
    bidirectional: bool = False,
    dropout: Probability = 0.0,
    pooling: RecurrentPooling = "last",
) -> nn.Module:
    """GRU over the steps of a (T, F) input; features are its final state (both directions when bidirectional).

    Args:
        input_shape: one sample's shape (steps, features), from [model] input_shape.
        hidden_size: state size per direction.
        num_layers: stacked GRU layers.
        bidirectional: also read the sequence backwards; doubles the feature size.
        dropout: dropout between stacked layers (needs num_layers > 1).
        pooling: "last": the final hidden state; "mean": the outputs averaged over the steps.
    """
    return _recurrent("gru", input_shape, hidden_size, num_layers, bidirectional, dropout, pooling)


def _recurrent(cell: str, input_shape: tuple[int, ...], hidden_size: int, num_layers: int, bidirectional: bool,
               dropout: float, pooling: str) -> nn.Module:
    _, features = _steps_and_features(input_shape, cell)
    if dropout and num_layers == 1:
        raise ParameterError("dropout", f"acts between stacked layers, and num_layers is 1 (dropout = {dropout})",
                             "set num_layers >= 2, or dropout = 0.0")
    from flexzoo.builtin.sequence_layers import RecurrentBackbone

    return RecurrentBackbone(cell, features, hidden_size, num_layers, bidirectional, dropout, pooling)


def transformer(
    input_shape: tuple[int, ...],
    d_model: Width = 64,
    num_heads: Heads = 4,
    num_layers: Depth = 2,
    dim_feedforward: Width = 128,
    dropout: Probability = 0.0,
    positions: Literal["learned", "sinusoidal"] = "learned",
    pooling: Literal["cls", "mean"] = "mean",
) -> nn.Module:
    """Transformer encoder over the steps of a (T, F) input: projection, positions, pre-norm layers, pooling.

    Args:
        input_shape: one sample's shape (steps, features), from [model] input_shape.
        d_model: width of every token; the feature size.
        num_heads: attention heads; must divide d_model.
        num_layers: encoder layers.
        dim_feedforward: hidden size of each layer's feed-forward block.
        dropout: dropout inside the encoder layers.
        positions: "learned": a trained position table; "sinusoidal": the fixed sine/cosine code.
        pooling: "mean": average the steps; "cls": a learned token's final state.
    """
    steps, features = _steps_and_features(input_shape, "transformer")
    if d_model % num_heads:
        raise ParameterError("num_heads", f"must divide d_model = {d_model}, got {num_heads}",
                             f"use one of {[h for h in range(1, min(d_model, 16) + 1) if d_model % h == 0]}")
    from flexzoo.builtin.sequence_layers import TransformerBackbone

    return TransformerBackbone(steps, features, d_model, num_heads, num_layers, dim_feedforward, dropout, positions,
                               pooling)
