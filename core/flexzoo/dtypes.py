"""The dtype a model's inputs must have, for models whose weights were cast (bf16, fp16)."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["input_dtype"]


def input_dtype(model: nn.Module) -> torch.dtype:
    """The dtype inputs must have: that of the model's floating-point weights."""
    for tensor in (*model.parameters(), *model.buffers()):
        if tensor.is_floating_point():
            return tensor.dtype
    return torch.float32
