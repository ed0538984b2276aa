"""The arithmetic of a low-rank (LoRA) update, shared by training and by reading adapter artifacts.

A layer's adapted weight is ``weight + scale * (up @ down)``, the product laid out as ``weight``.
Training computes it through a parametrization and merges it the same way; an artifact that stores
adapters instead of merged weights (``[train.lora] store = "adapters"``) names each adapter's
matrices ``<layer>.lora.down`` and ``<layer>.lora.up``, and reading it folds them into the base's
weights with this one formula, so the two give the same tensors, bit for bit.
"""

from __future__ import annotations

import torch

__all__ = ["ADAPTER_SUFFIXES", "merged_weights", "updated"]

#: How an adapter's two matrices are named in an artifact that stores adapters: ``<layer>`` + suffix.
ADAPTER_SUFFIXES = (".lora.down", ".lora.up")


def updated(weight: torch.Tensor, down: torch.Tensor, up: torch.Tensor, scale: float) -> torch.Tensor:
    """``weight + scale * (up @ down)``, the update laid out as ``weight``: what an adapted layer uses."""
    return weight + ((up @ down) * scale).view_as(weight)


def merged_weights(base: dict[str, torch.Tensor], adapters: dict[str, torch.Tensor], scale: float
                   ) -> dict[str, torch.Tensor]:
    """Each adapted layer's ``<layer>.weight``: the base's weight with the stored adapter folded in.

    Raises KeyError naming a weight the base does not hold, ValueError for an adapter whose shapes
    do not fit its weight.
    """
    down_suffix, up_suffix = ADAPTER_SUFFIXES
    merged = {}
    for key in sorted(k for k in adapters if k.endswith(down_suffix)):
        layer = key.removesuffix(down_suffix)
        weight, down, up = base[layer + ".weight"], adapters[key], adapters[layer + up_suffix]
        if (down.ndim != 2 or up.ndim != 2 or down.shape[1] != weight[0].numel() or up.shape[0] != weight.shape[0]
                or up.shape[1] != down.shape[0]):
            raise ValueError(f"the adapter of `{layer}` ({list(up.shape)} @ {list(down.shape)}) does not fit its "
                             f"weight {list(weight.shape)}")
        with torch.no_grad():
            merged[layer + ".weight"] = updated(weight, down, up, scale)
    return merged
