"""``[train.lora]``: low-rank adapters on a backbone's Linear and Conv layers, merged after training.

Each selected layer's ``weight`` becomes ``W + (alpha / rank) * (up @ down)``, reshaped to ``W``'s
shape, through ``torch.nn.utils.parametrize``: the layer keeps its type and its ``weight`` attribute
(code that reads ``layer.weight``, as ``nn.MultiheadAttention`` does with its ``out_proj``, sees
the adapted weight), ``W`` stays as it was (frozen), and only ``down`` (rank x fan-in) and ``up``
(fan-out x rank) train. ``up`` starts at zero, so the adapted model starts as the base model.
For a convolution the update is the usual conv LoRA (a rank-``r`` conv followed by a 1x1 conv),
written as one weight.

Merging folds the update into ``W`` and removes the parametrization: the model is then the plain
model it was, with the same names and types, which is what the artifact stores. With
``store = "adapters"`` the artifact keeps the adapters instead (:func:`adapter_tensors`, named
``<layer>.lora.down`` and ``<layer>.lora.up``) and reading the artifact folds them into the base's
weights by the same arithmetic (:mod:`flexzoo.compression.low_rank`), so both give the same tensors, bit for bit.

Written here rather than on ``peft``: it is about a hundred lines, imports nothing beyond torch
(``import peft`` pulls in transformers, seconds per process), keeps layer names and types while
training, and lets the host decide what stays trainable (peft freezes every non-adapter
parameter of the model, heads included).
"""

from __future__ import annotations

import fnmatch
import math

import torch
from torch import nn
from torch.nn.utils import parametrize

from flexzoo.compression.low_rank import ADAPTER_SUFFIXES, updated
from flexzoo.host.registry import closest
from flexzoo.manifest.train import LoraSettings

__all__ = ["LoraProblem", "LoraSettings", "LowRankUpdate", "adapt", "adapted_layers", "adapter_parameter_names",
           "adapter_tensors", "lora_targets", "merge_adapters"]

#: The layer types that take an adapter (a transposed convolution's weight is laid out the other way round).
ADAPTABLE = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)

class LoraProblem(ValueError):
    """A ``targets`` pattern that selects no adaptable layer; carries a message and a fix."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class LowRankUpdate(nn.Module):
    """The parametrization ``weight -> weight + scale * (up @ down)``; ``up`` starts at zero."""

    def __init__(self, weight: torch.Tensor, rank: int, scale: float) -> None:
        super().__init__()
        fan_out, fan_in = weight.shape[0], weight[0].numel()
        self.scale = scale
        self.down = nn.Parameter(torch.empty(rank, fan_in, dtype=weight.dtype, device=weight.device))
        self.up = nn.Parameter(torch.zeros(fan_out, rank, dtype=weight.dtype, device=weight.device))
        nn.init.kaiming_uniform_(self.down, a=math.sqrt(5))  # as nn.Linear initializes its weight

    def delta(self) -> torch.Tensor:
        """The update alone, in the weight's layout (fan-out, fan-in) flattened."""
        return (self.up @ self.down) * self.scale

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        return updated(weight, self.down, self.up, self.scale)


def _unfit(module: nn.Module) -> str:
    """Why ``module`` takes no adapter ("" when it does)."""
    if not isinstance(module, ADAPTABLE):
        return type(module).__name__
    if parametrize.is_parametrized(module, "weight"):
        return f"{type(module).__name__} whose weight is already parametrized"
    return ""


def lora_targets(backbone: nn.Module, patterns: tuple[str, ...] | list[str]) -> list[str]:
    """The backbone's layers that ``patterns`` (globs over module names) select and that take an adapter.

    Containers and other layers a pattern also matches are passed over; a pattern that matches no
    module, or only modules that take no adapter, is an error naming what it matched.
    """
    modules = dict(backbone.named_modules())
    del modules[""]
    selected: list[str] = []
    for pattern in patterns:
        matched = [name for name in modules if fnmatch.fnmatchcase(name, pattern)]
        if not matched:
            fit = [name for name, module in modules.items() if not _unfit(module)]
            near = closest(pattern, fit) or fit[:3]
            raise LoraProblem(f"LoRA target `{pattern}` matches no backbone layer",
                              "adaptable layers are named like " + ", ".join(f"`{n}`" for n in near))
        fit = [name for name in matched if not _unfit(modules[name])]
        if not fit:
            shown = ", ".join(f"`{name}` ({_unfit(modules[name])})" for name in matched[:4])
            more = f" and {len(matched) - 4} more" if len(matched) > 4 else ""
            raise LoraProblem(f"LoRA target `{pattern}` matches {shown}{more}, none of them a Linear or Conv "
                              "layer", f"select Linear/Conv layers, e.g. `{matched[0]}.*`")
        selected += [name for name in fit if name not in selected]
    return selected


def adapt(backbone: nn.Module, settings: LoraSettings) -> list[str]:
    """Put an adapter on each layer ``settings.targets`` selects; freeze everything else in the backbone.

    Returns the adapted layers' names. Adapter weights are drawn from torch's global generator
    (the caller seeds it).
    """
    names = lora_targets(backbone, settings.targets)
    for parameter in backbone.parameters():
        parameter.requires_grad_(False)
    for name in names:
        layer = backbone.get_submodule(name)
        parametrize.register_parametrization(layer, "weight",
                                             LowRankUpdate(layer.weight, settings.rank, settings.scale))
    return names


def adapter_parameter_names(module: nn.Module) -> set[str]:
    """The names (relative to ``module``) of the adapters' own parameters, the ones LoRA trains."""
    return {f"{owner}.{leaf}" if owner else leaf for owner, update in module.named_modules()
            if isinstance(update, LowRankUpdate) for leaf, _ in update.named_parameters()}


def merge_adapters(model: nn.Module) -> list[str]:
    """Fold every adapter into its layer's weight and remove it; return the merged layers' names.

    Afterwards the model has the parameter names and layer types it had before :func:`adapt`.
    """
    merged = []
    for name, layer in list(model.named_modules()):
        if parametrize.is_parametrized(layer, "weight") and any(
                isinstance(p, LowRankUpdate) for p in layer.parametrizations["weight"]):
            with torch.no_grad():
                parametrize.remove_parametrizations(layer, "weight", leave_parametrized=True)
            merged.append(name)
    return merged


def adapted_layers(model: nn.Module) -> dict[str, LowRankUpdate]:
    """Each layer (by its name in ``model``) whose weight carries an adapter, and the adapter."""
    return {name: update for name, layer in model.named_modules()
            if parametrize.is_parametrized(layer, "weight")
            for update in layer.parametrizations["weight"] if isinstance(update, LowRankUpdate)}


def adapter_tensors(model: nn.Module) -> dict[str, torch.Tensor]:
    """The adapters' matrices, ``<layer>.lora.down`` and ``<layer>.lora.up``: what an adapter artifact stores."""
    down, up = ADAPTER_SUFFIXES
    tensors = {}
    for name, update in adapted_layers(model).items():
        tensors[name + down] = update.down.detach()
        tensors[name + up] = update.up.detach()
    return tensors

