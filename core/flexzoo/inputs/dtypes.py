"""The dtype a model's inputs must have, and example inputs of that dtype for the host's own runs.

Inputs are floating point, in the dtype of the model's weights (bf16, fp16 after a cast), unless the
backbone declares ``input_dtype``: a backbone of token ids sets ``input_dtype = torch.int64``.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["declared_input_dtype", "example_input", "input_dtype"]


def declared_input_dtype(backbone: nn.Module) -> torch.dtype | None:
    """The ``input_dtype`` the backbone declares, or None (it takes floating-point input)."""
    declared = getattr(backbone, "input_dtype", None)
    return declared if isinstance(declared, torch.dtype) else None


def input_dtype(model: nn.Module) -> torch.dtype:
    """The dtype inputs must have: the backbone's declared one, else that of the model's floating-point weights."""
    declared = declared_input_dtype(getattr(model, "backbone", model))
    if declared is not None:
        return declared
    for tensor in (*model.parameters(), *model.buffers()):
        if tensor.is_floating_point():
            return tensor.dtype
    return torch.float32


def example_input(shape: tuple[int, ...], batch: int, dtype: torch.dtype = torch.float32,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """A batch ``(batch, *shape)`` to run a model on: normal noise, or for integer inputs the ids 0 and 1
    (which every vocabulary has)."""
    if dtype.is_floating_point:
        return torch.randn((batch, *shape), generator=generator).to(dtype)
    return torch.randint(0, 2, (batch, *shape), generator=generator, dtype=dtype)
