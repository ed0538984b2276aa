"""Recording a model's shapes and layer settings, and rebuilding them on a fresh model.

Structured compression changes shapes (pruned channels, factorized layers). The artifact stores
what changed as JSON; on load the architecture is rebuilt, each tensor is replaced by an empty one
of the recorded shape, each changed setting is restored, and then the stored values are loaded.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

Snapshot = dict[str, dict[str, Any]]
_SETTING_TYPES = (bool, int, float, str)


def _setting(value: Any) -> bool:
    if isinstance(value, _SETTING_TYPES):
        return True
    return isinstance(value, tuple) and all(isinstance(v, _SETTING_TYPES) for v in value)


def settings(model: nn.Module) -> Snapshot:
    """Each module's plain settings (``in_channels``, ``num_heads``, ``normalized_shape``...)."""
    return {name: {key: value for key, value in vars(module).items() if not key.startswith("_") and _setting(value)}
            for name, module in model.named_modules()}


def shapes(model: nn.Module) -> dict[str, list[int]]:
    """The shape of every parameter and buffer in the state dict."""
    return {name: list(tensor.shape) for name, tensor in model.state_dict().items()}


def record(before: Snapshot, model: nn.Module) -> dict[str, Any]:
    """What differs from ``before``: the settings that changed, and every tensor's shape."""
    after = settings(model)
    changed = {}
    for name, values in after.items():
        old = before.get(name, {})
        diff = {key: list(value) if isinstance(value, tuple) else value
                for key, value in values.items() if old.get(key) != value}
        if diff:
            changed[name] = diff
    return {"settings": changed, "shapes": shapes(model)}


def _resized(tensor: torch.Tensor, shape: list[int]) -> torch.Tensor:
    """``tensor`` cut to ``shape`` where it shrinks (zeros where it grows): finite values, so later
    steps that run the model before the stored values arrive (int8 calibration) see real numbers."""
    if all(new <= old for new, old in zip(shape, tensor.shape)) and len(shape) == tensor.ndim:
        return tensor[tuple(slice(0, n) for n in shape)].clone()
    return torch.zeros(shape, dtype=tensor.dtype, device=tensor.device)


def restore(model: nn.Module, recorded: dict[str, Any]) -> nn.Module:
    """Give ``model`` the recorded shapes and settings; the stored values are loaded afterwards."""
    for name, values in recorded["settings"].items():
        module = model.get_submodule(name)
        for key, value in values.items():
            current = getattr(module, key, None)
            setattr(module, key, tuple(value) if isinstance(current, tuple) else value)
    for name, shape in recorded["shapes"].items():
        owner_name, _, leaf = name.rpartition(".")
        owner = model.get_submodule(owner_name)
        tensor = getattr(owner, leaf)
        if list(tensor.shape) == shape:
            continue
        resized = _resized(tensor.detach(), shape)
        if isinstance(tensor, nn.Parameter):
            setattr(owner, leaf, nn.Parameter(resized, requires_grad=tensor.requires_grad))
        else:
            owner.register_buffer(leaf, resized, persistent=True)
    return model
