"""Initializers of the torch.nn.init family.

Each factory returns ``init(module)``, which the host calls on every module whose qualified name
matches the step's ``match`` glob. The weight schemes set a module's own ``weight`` when it has
at least two dimensions (linear and convolution layers) and set its ``bias`` to ``bias``;
normalization layers (one-dimensional weights) are left alone. ``zeros`` and ``constant`` set
every parameter the module owns directly. ``lsuv`` is data-dependent: the host hands it the whole
model and the selected names (:class:`flexzoo.plugin.DataDependentInitializer`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

from flexzoo.builtin.checks import Positive, PositiveFloat
from flexzoo.plugin import ParameterError, StepContext

if TYPE_CHECKING:
    from torch import nn

Init = Callable[["nn.Module"], None]
Nonlinearity = Literal["relu", "leaky_relu", "tanh", "sigmoid", "linear", "selu"]
FanMode = Literal["fan_in", "fan_out"]


def _weight_init(scheme: str, bias: float, **options: Any) -> Init:
    def init(module: nn.Module) -> None:
        import torch

        weight = getattr(module, "weight", None)
        if not isinstance(weight, torch.nn.Parameter) or weight.ndim < 2:
            return
        with torch.no_grad():
            getattr(torch.nn.init, scheme)(weight, **options)
            module_bias = getattr(module, "bias", None)
            if isinstance(module_bias, torch.nn.Parameter):
                module_bias.fill_(bias)

    return init


def xavier_uniform(gain: float = 1.0, bias: float = 0.0) -> Init:
    """Glorot uniform weights (torch.nn.init.xavier_uniform_).

    Args:
        gain: scaling factor.
        bias: value for the biases of the initialized layers.
    """
    return _weight_init("xavier_uniform_", bias, gain=gain)


def xavier_normal(gain: float = 1.0, bias: float = 0.0) -> Init:
    """Glorot normal weights (torch.nn.init.xavier_normal_).

    Args:
        gain: scaling factor.
        bias: value for the biases of the initialized layers.
    """
    return _weight_init("xavier_normal_", bias, gain=gain)


def kaiming_uniform(
    a: float = 0.0, mode: FanMode = "fan_in", nonlinearity: Nonlinearity = "relu", bias: float = 0.0
) -> Init:
    """He uniform weights (torch.nn.init.kaiming_uniform_).

    Args:
        a: negative slope of the rectifier after the layer (leaky_relu only).
        mode: preserve the variance of the forward (fan_in) or backward (fan_out) pass.
        nonlinearity: the nonlinearity after the layer.
        bias: value for the biases of the initialized layers.
    """
    return _weight_init("kaiming_uniform_", bias, a=a, mode=mode, nonlinearity=nonlinearity)


def kaiming_normal(
    a: float = 0.0, mode: FanMode = "fan_in", nonlinearity: Nonlinearity = "relu", bias: float = 0.0
) -> Init:
    """He normal weights (torch.nn.init.kaiming_normal_).

    Args:
        a: negative slope of the rectifier after the layer (leaky_relu only).
        mode: preserve the variance of the forward (fan_in) or backward (fan_out) pass.
        nonlinearity: the nonlinearity after the layer.
        bias: value for the biases of the initialized layers.
    """
    return _weight_init("kaiming_normal_", bias, a=a, mode=mode, nonlinearity=nonlinearity)


def orthogonal(gain: float = 1.0, bias: float = 0.0) -> Init:
    """(Semi-)orthogonal weights (torch.nn.init.orthogonal_).

    Args:
        gain: scaling factor.
        bias: value for the biases of the initialized layers.
    """
    return _weight_init("orthogonal_", bias, gain=gain)


def trunc_normal(
    std: PositiveFloat = 0.02, mean: float = 0.0, a: float = -2.0, b: float = 2.0, bias: float = 0.0
) -> Init:
    """Normal weights truncated to [a, b] (torch.nn.init.trunc_normal_), as ViTs use.

    Args:
        std: standard deviation.
        mean: mean.
        a: lower cut-off (absolute value, not in standard deviations).
        b: upper cut-off.
        bias: value for the biases of the initialized layers.
    """
    if not a < b:
        raise ParameterError("a", f"must be below b, got a={a}, b={b}")
    return _weight_init("trunc_normal_", bias, std=std, mean=mean, a=a, b=b)


def _fill_all(value: float) -> Init:
    def init(module: nn.Module) -> None:
        import torch

        with torch.no_grad():
            for parameter in module.parameters(recurse=False):
                parameter.fill_(value)

    return init


def zeros() -> Init:
    """Every parameter the module owns set to zero (for example a residual branch's last norm)."""
    return _fill_all(0.0)


def constant(value: float) -> Init:
    """Every parameter the module owns set to `value`.

    Args:
        value: the value.
    """
    return _fill_all(value)


def lsuv(
    tolerance: PositiveFloat = 0.05,
    max_iterations: Positive = 10,
    batches: Positive = 1,
    batch_size: Positive = 256,
    orthogonal: bool = True,
    *,
    context: StepContext,
) -> Init:
    """Layer-sequential unit variance (data-dependent): each layer scaled to output variance 1 on [train] batches.

    Args:
        tolerance: stop scaling a layer when its output variance is within this of 1.
        max_iterations: most rescaling passes per layer.
        batches: training batches to measure on (the first of the run's seeded order).
        batch_size: samples per batch.
        orthogonal: start from orthonormal weights and zero biases (as the paper does).
        context: the host's step context (set by the host; the batches come through it).
    """
    if not context.has_training_data:
        raise ParameterError("use", "lsuv measures layer outputs on the manifest's [train] data, and there is no "
                             "[train]", 'add a [train] section (for example data = "digits")')
    from flexzoo.builtin.lsuv import LSUV

    return LSUV(tolerance, max_iterations, batches, batch_size, orthogonal, context)


INITIALIZERS: dict[str, Callable[..., Init]] = {
    "xavier_uniform": xavier_uniform,
    "xavier_normal": xavier_normal,
    "kaiming_uniform": kaiming_uniform,
    "kaiming_normal": kaiming_normal,
    "orthogonal": orthogonal,
    "trunc_normal": trunc_normal,
    "zeros": zeros,
    "constant": constant,
    "lsuv": lsuv,
}
