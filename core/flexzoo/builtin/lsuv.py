"""Layer-sequential unit-variance initialization (Mishkin & Matas, "All you need is a good init", 2016).

Orthonormal weights first; then, layer by layer in module order, the model runs on batches of the
``[train]`` data and each selected layer's weights are divided by the standard deviation of its
output until that output's variance is 1 within ``tolerance``. The batches come through the step
context, in the run's seeded order, so the same manifest and seed give the same weights.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flexzoo.plugin import StepContext

if TYPE_CHECKING:
    import torch
    from torch import nn


def _has_weight_matrix(module: nn.Module) -> bool:
    import torch

    weight = getattr(module, "weight", None)
    return isinstance(weight, torch.nn.Parameter) and weight.ndim >= 2


class LSUV:
    """``init(module)``: orthonormal weights and zero bias; ``initialize(model, selected)``: the data-dependent pass.

    After ``initialize``, ``variances`` holds each scaled layer's output variance on the batches.
    """

    def __init__(self, tolerance: float, max_iterations: int, batches: int, batch_size: int, orthogonal: bool,
                 context: StepContext) -> None:
        self.tolerance = tolerance
        self.max_iterations = max_iterations
        self.batches = batches
        self.batch_size = batch_size
        self.orthogonal = orthogonal
        self.context = context
        self.variances: dict[str, float] = {}

    def __call__(self, module: nn.Module) -> None:
        import torch

        if not _has_weight_matrix(module):
            return
        with torch.no_grad():
            torch.nn.init.orthogonal_(module.weight)
            bias = getattr(module, "bias", None)
            if isinstance(bias, torch.nn.Parameter):
                bias.zero_()

    def initialize(self, model: nn.Module, selected: list[str]) -> None:
        import torch

        layers = [(name, model.get_submodule(name)) for name in selected]
        layers = [(name, module) for name, module in layers if _has_weight_matrix(module)]
        if self.orthogonal:
            for _, module in layers:
                self(module)
        inputs = torch.cat(self.context.calibration_batches(self.batches, self.batch_size))
        was_training = model.training
        model.eval()  # no dropout noise; normalization layers use their (fresh) running statistics
        try:
            for name, module in layers:
                self.variances[name] = self._scale(model, module, inputs)
        finally:
            model.train(was_training)

    def _scale(self, model: nn.Module, module: nn.Module, inputs: torch.Tensor) -> float:
        """Divide the layer's weights by its output's standard deviation until the variance is 1."""
        import torch

        outputs: list[torch.Tensor] = []
        handle = module.register_forward_hook(lambda _module, _args, output: outputs.append(output))
        try:
            with torch.no_grad():
                for _ in range(self.max_iterations):
                    outputs.clear()
                    model(inputs)
                    variance = float(outputs[0].float().var())
                    if abs(variance - 1.0) <= self.tolerance or variance == 0.0:
                        break
                    module.weight.div_(variance ** 0.5)
                outputs.clear()
                model(inputs)
                return float(outputs[0].float().var())
        finally:
            handle.remove()
