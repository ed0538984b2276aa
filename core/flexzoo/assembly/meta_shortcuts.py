"""Shortcuts for the dry run on the meta device: an op costs only its checks where its result is known.

On the meta device torch runs many ops through Python decompositions, and two kinds were most of a
ResNet's dry run:

- **batch norm** (about a millisecond each, 53 of them in a resnet50). In eval mode the output has its
  input's shape, dtype and layout, so an eval-mode batch norm whose tensors are all on the meta device
  returns exactly that, after the checks the kernel makes (each of the running statistics, weight and
  bias holds one value per channel), refusing a mismatch with the kernel's own message.
- **random initialization** (``normal_``, ``uniform_`` and the in-place arithmetic initializers do with
  numbers, as ``trunc_normal_``): a meta tensor holds no values, so filling a floating-point one in place
  changes nothing. The shortcut returns the tensor after the check the kernel makes (``normal_`` refuses
  a negative or NaN standard deviation). ``torch.nn.init`` functions still run their own checks (a
  tensor with too few dimensions for a fan, an unknown nonlinearity); only their fills are skipped.

Anything else (training mode, tensors with data, integer tensors, tensor operands) runs as it always does.
"""

from __future__ import annotations

import contextlib
import inspect
import math
from collections.abc import Iterator
from typing import Any

import torch
from torch.nn import functional, init
from torch.overrides import TorchFunctionMode

__all__ = ["meta_shortcuts"]

#: In-place ops that leave a floating-point meta tensor as it was when every other operand is a number.
_FILLS = frozenset({torch.Tensor.normal_, torch.Tensor.uniform_, torch.Tensor.erfinv_, torch.Tensor.clamp_,
                    torch.Tensor.mul_, torch.Tensor.add_, torch.Tensor.sub_, torch.Tensor.div_,
                    torch.Tensor.fill_, torch.Tensor.zero_})
#: The ``torch.nn.init`` functions torch dispatches as a whole (their own fills never reach the mode).
_INITIALIZERS = frozenset({init.kaiming_uniform_, init.kaiming_normal_, init.normal_, init.uniform_, init.constant_})


class _MetaShortcuts(TorchFunctionMode):
    def __torch_function__(self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: dict[str, Any] | None = None
                           ) -> Any:
        kwargs = kwargs or {}
        if func is functional.batch_norm:
            output = _batch_norm_shape_only(*args, **kwargs)
            if output is not None:
                return output
        elif func in _FILLS and _unchanged_by(func, args, kwargs):
            return args[0]
        elif func in _INITIALIZERS:
            skipped = _checked_initializer(func, args, kwargs)
            if skipped is not None:
                return skipped
        return func(*args, **kwargs)


def _checked_initializer(func: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> torch.Tensor | None:
    """The tensor ``func`` (one of :data:`_INITIALIZERS`, which torch dispatches as a whole) would fill, where
    that changes nothing, after the checks it makes (its fan, its gain, ``std``) with torch's own helpers;
    None where it must run."""
    bound = inspect.signature(func).bind(*args, **kwargs)
    bound.apply_defaults()
    values = bound.arguments
    tensor = values["tensor"]
    if not isinstance(tensor, torch.Tensor) or not tensor.is_meta or not tensor.is_floating_point() or \
            values.get("generator") is not None:
        return None
    if func in (init.kaiming_uniform_, init.kaiming_normal_):
        init._calculate_correct_fan(tensor, values["mode"])  # refuses a tensor of fewer than 2 dimensions
        init.calculate_gain(values["nonlinearity"], values["a"])  # refuses an unknown nonlinearity
    elif func is init.normal_:
        _check_std(values["std"])
    return tensor


def _check_std(std: Any) -> None:
    """Raise what ``normal_`` raises for a negative or NaN standard deviation."""
    if isinstance(std, (int, float)) and (math.isnan(std) or std < 0):
        raise RuntimeError(f"normal expects std >= 0.0, but found std {float(std)}")


def _unchanged_by(func: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
    """Whether ``func`` (one of :data:`_FILLS`) leaves ``args[0]`` as it was: a floating-point meta tensor,
    every other operand a number; raises what the kernel raises for a negative or NaN ``std``."""
    tensor = args[0] if args else None
    if not isinstance(tensor, torch.Tensor) or not tensor.is_meta or not tensor.is_floating_point():
        return False
    operands = [*args[1:], *kwargs.values()]
    if not all(value is None or type(value) in (int, float, bool) for value in operands):
        return False
    if func is torch.Tensor.normal_:
        _check_std(kwargs.get("std", args[2] if len(args) > 2 else 1.0))
    return True


def _batch_norm_shape_only(input: torch.Tensor, running_mean: torch.Tensor | None, running_var: torch.Tensor | None,
                           weight: torch.Tensor | None = None, bias: torch.Tensor | None = None,
                           training: bool = False, momentum: float = 0.1, eps: float = 1e-5) -> torch.Tensor | None:
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
def meta_shortcuts() -> Iterator[None]:
    """Within the block, eval-mode batch norms and in-place fills on the meta device cost only their checks."""
    with _MetaShortcuts():
        yield
