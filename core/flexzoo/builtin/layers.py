"""The torch modules behind the builtin components (imported only when a model is built)."""

from __future__ import annotations

import itertools
import re
from typing import Any

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
        self.widths, self.activation, self.norm = list(widths), activation, norm

    def grown_parameters(self, widths: list[int] | None, widen: float, deepen: int) -> dict[str, Any]:
        """``widths`` grown (Net2WiderNet), then ``deepen`` layers of the last width appended (Net2DeeperNet)."""
        new = grown_widths(self.widths, widths, widen)
        if self.norm == "layer" and any(after % before for before, after in zip(self.widths, new)):
            raise ValueError(f"with norm = \"layer\" each width must grow by a whole factor (copying every unit "
                             f"equally keeps each layer's mean and variance): {self.widths} -> {new}")
        if deepen:
            identity_activation(self.activation)
            if self.norm != "none":
                raise ValueError(f"a layer added with norm = \"{self.norm}\" would normalize what it passes on: "
                                 "deepening an mlp needs norm = \"none\"")
        return {"widths": new + [new[-1]] * deepen}

    def init_added_as_identity(self, added: list[str]) -> None:
        """Added linear layers become the identity (the activation after them is relu, idempotent)."""
        with torch.no_grad():
            for name in added:
                parameter = self.get_parameter(name)
                if name.endswith("weight"):
                    nn.init.eye_(parameter)
                else:
                    parameter.zero_()


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
        self.channels, self.depth, self.activation = list(channels), depth, activation
        self.feature_maps = tuple(FeatureMap(f"stage{i}", width, 2**i) for i, width in enumerate(channels)) \
            if maps else ()

    def grown_parameters(self, widths: list[int] | None, widen: float, deepen: int) -> dict[str, Any]:
        """``channels`` grown (Net2WiderNet), ``depth`` + ``deepen`` residual blocks per stage (Net2DeeperNet)."""
        if deepen:
            identity_activation(self.activation)
        return {"channels": grown_widths(self.channels, widths, widen), "depth": self.depth + deepen}

    def init_added_as_identity(self, added: list[str]) -> None:
        """Each added block's last normalization starts at zero: the block passes its input on (through relu)."""
        with torch.no_grad():
            for name in added:
                if re.fullmatch(r"stages\.\d+\.\d+\.norm2\.(weight|bias)", name):
                    self.get_parameter(name).zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor | dict[str, torch.Tensor]:
        if not self.feature_maps:
            return self.dropout(self.pool(self.stages(self.stem(x))))
        maps, x = {}, self.stem(x)
        for feature_map, stage in zip(self.feature_maps, self.stages):
            x = stage(x)
            maps[feature_map.name] = x
        return maps


def grown_widths(current: list[int], widths: list[int] | None, widen: float) -> list[int]:
    """The new widths: ``widths`` as given (checked against ``current``), or ``current`` times ``widen``."""
    if widths is None:
        return [round(width * widen) for width in current]
    if len(widths) != len(current):
        raise ValueError(f"`widths` gives {len(widths)} widths for the backbone's {len(current)} ({current})")
    smaller = [f"{before} -> {after}" for before, after in zip(current, widths) if after < before]
    if smaller:
        raise ValueError(f"growth cannot narrow a layer ({', '.join(smaller)}); prune to make a model smaller")
    return list(widths)


def identity_activation(activation: str) -> None:
    """Refuse to deepen where an added layer cannot start as the identity: only relu(relu(x)) = relu(x)."""
    if activation != "relu":
        raise ValueError(f"an added layer starts as the identity only if its activation is idempotent (relu); "
                         f"this backbone uses {activation}")
