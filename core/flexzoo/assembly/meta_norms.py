"""Batch norm on the meta device at the cost of its shapes, for the dry run's forward pass.

On the meta device torch computes a batch norm's output through a Python decomposition: about a
millisecond each, most of the dry run of a ResNet (53 of them in a resnet50). In eval mode the output
has its input's shape, dtype and layout, so within :func:`fast_meta_batch_norm` an eval-mode batch norm
whose tensors are all on the meta device returns exactly that, after the checks the kernel makes (each
of the running statistics, weight and bias holds one value per channel), refusing a mismatch with the
kernel's own message. Anything else (training mode, tensors with data) runs as it always does.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch
from torch.nn import functional
from torch.overrides import TorchFunctionMode

__all__ = ["fast_meta_batch_norm"]


class _MetaBatchNorm(TorchFunctionMode):
    def __torch_function__(self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: dict[str, Any] | None = None
                           ) -> Any:
        kwargs = kwargs or {}
        if func is functional.batch_norm:
            output = _shape_only(*args, **kwargs)
            if output is not None:
                return output
        return func(*args, **kwargs)


def _shape_only(input: torch.Tensor, running_mean: torch.Tensor | None, running_var: torch.Tensor | None,
                weight: torch.Tensor | None = None, bias: torch.Tensor | None = None, training: bool = False,
                momentum: float = 0.1, eps: float = 1e-5) -> torch.Tensor | None:
    """The output of an eval-mode batch norm on meta tensors (None where the kernel must run)."""
    tensors = {"running_mean": running_mean, "running_var": running_var, "weight": weight, "bias": bias}
    if training or running_mean is None or running_var is None or not isinstance(input, torch.Tensor) or \
            not input.is_meta or not all(t is None or (isinstance(t, torch.Tensor) and t.is_meta)
                                         for t in tensors.values()):
        return None
    channels = input.shape[1] if input.dim() > 1 else 0
    for name, tensor in tensors.items():
        if tensor is not None and tensor.numel() != channels:
            raise RuntimeError(f"{name} should contain {channels} elements not {tensor.numel()}")
    return torch.empty_like(input)


@contextlib.contextmanager
def fast_meta_batch_norm() -> Iterator[None]:
    """Within the block, eval-mode batch norms on the meta device cost only their shape checks."""
    with _MetaBatchNorm():
        yield
