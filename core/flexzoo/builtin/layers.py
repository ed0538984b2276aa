"""The torch modules behind the builtin components (imported only when a model is built)."""

from __future__ import annotations

import itertools

import torch
from torch import nn

from flexzoo.plugin import FeatureMap

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "tanh": nn.Tanh,
    "leaky_relu": nn.LeakyReLU,
}


def mlp_layers(
    in_features: int, hidden: list[int], out_features: int, activation: str, dropout: float, bias: bool = True
) -> nn.Sequential:
    """[dropout] -> linear -> activation for each hidden size, then [dropout] -> linear."""
    layers: list[nn.Module] = []
    sizes = [in_features, *hidden]
    for size_in, size_out in itertools.pairwise(sizes):
        if dropout:
            layers.append(nn.Dropout(dropout))
        layers += [nn.Linear(size_in, size_out), ACTIVATIONS[activation]()]
    if dropout:
        layers.append(nn.Dropout(dropout))
    layers.append(nn.Linear(sizes[-1], out_features, bias=bias))
    return nn.Sequential(*layers)


class MLPBackbone(nn.Sequential):
    """Flatten, then linear -> [norm] -> activation -> [dropout] per width."""

    def __init__(self, in_features: int, widths: list[int], activation: str, dropout: float, norm: str) -> None:
        layers: list[nn.Module] = [nn.Flatten()]
        for size_in, size_out in zip([in_features, *widths], widths):
            layers.append(nn.Linear(size_in, size_out))
            if norm == "batch":
                layers.append(nn.BatchNorm1d(size_out))
            elif norm == "layer":
                layers.append(nn.LayerNorm(size_out))
            layers.append(ACTIVATIONS[activation]())
            if dropout:
                layers.append(nn.Dropout(dropout))
        super().__init__(*layers)
        self.num_features = widths[-1]


class DropPath(nn.Module):
    """Stochastic depth: drops a residual branch per sample while training."""

    def __init__(self, rate: float) -> None:
        super().__init__()
        self.rate = rate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.rate == 0.0:
            return x
        keep = 1.0 - self.rate
        mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
        return x * mask / keep

    def extra_repr(self) -> str:
        return f"rate={self.rate}"


def conv_bn_act(channels_in: int, channels_out: int, kernel_size: int, stride: int, activation: str) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(channels_in, channels_out, kernel_size, stride, kernel_size // 2, bias=False),
        nn.BatchNorm2d(channels_out),
        ACTIVATIONS[activation](),
    )


class ResidualBlock(nn.Module):
    """Two convolutions with a skip connection and stochastic depth on the branch."""

    def __init__(self, channels: int, kernel_size: int, activation: str, drop_path: float) -> None:
        super().__init__()
        self.conv1 = conv_bn_act(channels, channels, kernel_size, 1, activation)
        self.conv2 = nn.Conv2d(channels, channels, kernel_size, 1, kernel_size // 2, bias=False)
        self.norm2 = nn.BatchNorm2d(channels)
        self.drop_path = DropPath(drop_path) if drop_path else nn.Identity()
        self.act = ACTIVATIONS[activation]()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(x + self.drop_path(self.norm2(self.conv2(self.conv1(x)))))


class ConvBackbone(nn.Module):
    """Stem, stages of residual blocks (each after the first halves the resolution), pooled features.

    With ``maps`` it returns every stage's map by name instead, as ``feature_maps`` declares them.
    """

    def __init__(
        self,
        in_channels: int,
        channels: list[int],
        depth: int,
        kernel_size: int,
        activation: str,
        dropout: float,
        drop_path_rate: float,
        maps: bool = False,
    ) -> None:
        super().__init__()
        self.stem = conv_bn_act(in_channels, channels[0], kernel_size, 1, activation)
        blocks = len(channels) * depth
        rates = [drop_path_rate * i / max(blocks - 1, 1) for i in range(blocks)]
        stages = []
        for index, width in enumerate(channels):
            previous = channels[max(index - 1, 0)]
            layers: list[nn.Module] = []
            if index > 0:
                layers.append(conv_bn_act(previous, width, kernel_size, 2, activation))
            layers += [
                ResidualBlock(width, kernel_size, activation, rates[index * depth + i]) for i in range(depth)
            ]
            stages.append(nn.Sequential(*layers))
        self.stages = nn.Sequential(*stages)
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.dropout = nn.Dropout(dropout) if dropout else nn.Identity()
        self.num_features = channels[-1]
        self.feature_maps = tuple(FeatureMap(f"stage{i}", width, 2**i) for i, width in enumerate(channels)) \
            if maps else ()

    def forward(self, x: torch.Tensor) -> torch.Tensor | dict[str, torch.Tensor]:
        if not self.feature_maps:
            return self.dropout(self.pool(self.stages(self.stem(x))))
        maps, x = {}, self.stem(x)
        for feature_map, stage in zip(self.feature_maps, self.stages):
            x = stage(x)
            maps[feature_map.name] = x
        return maps
