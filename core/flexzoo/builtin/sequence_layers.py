"""The torch modules behind the builtin sequence backbones: input ``(B, T, F)``, features ``(B, D)``."""

from __future__ import annotations

import math

import torch
from torch import nn


class RecurrentBackbone(nn.Module):
    """An LSTM or GRU over the steps; features are the last layer's final state(s) or the mean output.

    Bidirectional networks concatenate both directions, so the feature size is ``2 * hidden_size``.
    """

    def __init__(self, cell: str, in_features: int, hidden_size: int, num_layers: int, bidirectional: bool,
                 dropout: float, pooling: str) -> None:
        super().__init__()
        recurrent = {"lstm": nn.LSTM, "gru": nn.GRU}[cell]
        self.rnn = recurrent(in_features, hidden_size, num_layers=num_layers, batch_first=True,
                             bidirectional=bidirectional, dropout=dropout if num_layers > 1 else 0.0)
        self.directions = 2 if bidirectional else 1
        self.pooling = pooling
        self.num_features = hidden_size * self.directions

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outputs, state = self.rnn(x)
        if self.pooling == "mean":
            return outputs.mean(dim=1)
        hidden = state[0] if isinstance(state, tuple) else state  # LSTM: (h_n, c_n)
        return torch.cat(list(hidden[-self.directions:]), dim=1)  # the last layer, forward then backward


def sinusoidal_positions(steps: int, width: int) -> torch.Tensor:
    """The fixed position code of "Attention is all you need": sin on even, cos on odd features."""
    position = torch.arange(steps, dtype=torch.float32)[:, None]
    frequency = torch.exp(torch.arange(0, width, 2, dtype=torch.float32) * (-math.log(10000.0) / width))
    table = torch.zeros(steps, width)
    table[:, 0::2] = torch.sin(position * frequency)
    table[:, 1::2] = torch.cos(position * frequency[: width // 2])
    return table


class TransformerBackbone(nn.Module):
    """Project each step to ``d_model``, add positions, pre-norm encoder layers, then pool over the steps.

    ``pooling = "cls"`` prepends a learned token and returns its final state; ``"mean"`` averages the steps.
    """

    def __init__(self, steps: int, in_features: int, d_model: int, num_heads: int, num_layers: int,
                 dim_feedforward: int, dropout: float, positions: str, pooling: str) -> None:
        super().__init__()
        self.project = nn.Linear(in_features, d_model)
        self.pooling = pooling
        tokens = steps + (pooling == "cls")
        if pooling == "cls":
            self.cls_token = nn.Parameter(torch.zeros(1, 1, d_model))
        if positions == "learned":
            self.positions = nn.Parameter(torch.zeros(1, tokens, d_model))
            nn.init.trunc_normal_(self.positions, std=0.02)
        else:
            self.register_buffer("positions", sinusoidal_positions(tokens, d_model)[None])
        layer = nn.TransformerEncoderLayer(d_model, num_heads, dim_feedforward, dropout, batch_first=True,
                                           norm_first=True, activation="gelu")
        self.encoder = nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d_model)
        self.num_features = d_model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.project(x)
        if self.pooling == "cls":
            tokens = torch.cat([self.cls_token.expand(tokens.shape[0], -1, -1), tokens], dim=1)
        encoded = self.norm(self.encoder(tokens + self.positions))
        return encoded[:, 0] if self.pooling == "cls" else encoded.mean(dim=1)
