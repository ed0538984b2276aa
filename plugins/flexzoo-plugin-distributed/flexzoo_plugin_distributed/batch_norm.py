"""Batch normalization over the global batch of all ranks, on any device (torch's SyncBatchNorm is GPU-only).

The per-channel count, sum and sum of squares are summed over ranks with a differentiable all-reduce,
so the backward pass also sums the statistics' gradients over ranks: with DDP averaging parameter
gradients, N ranks compute the gradient of the whole global batch, as one process would.
"""

from __future__ import annotations

import torch
import torch.distributed.nn.functional as distributed
import torch.nn.functional as F
from torch import nn


class GlobalBatchNorm(nn.modules.batchnorm._BatchNorm):
    """A batch normalization whose training statistics are those of every rank's batch together.

    Made from an existing ``BatchNorm{1,2,3}d`` whose parameters and buffers it shares (so the state
    keys are the same); in eval mode it is the original's plain batch normalization.
    """

    @classmethod
    def sharing(cls, original: nn.modules.batchnorm._BatchNorm) -> GlobalBatchNorm:
        module = cls(original.num_features, original.eps, original.momentum, original.affine,
                     original.track_running_stats, device="meta")
        module.weight, module.bias = original.weight, original.bias
        module.running_mean, module.running_var = original.running_mean, original.running_var
        module.num_batches_tracked = original.num_batches_tracked
        module.train(original.training)
        return module

    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(f"expected at least 2D input (got {input.dim()}D input)")

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        self._check_input_dim(input)
        if not self.training and self.track_running_stats:
            return F.batch_norm(input, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0,
                                self.eps)
        channels, dims = input.shape[1], [0, *range(2, input.dim())]
        count = torch.full((1,), input.numel() // channels, dtype=input.dtype, device=input.device)
        totals = distributed.all_reduce(torch.cat([input.sum(dims), (input * input).sum(dims), count]))
        samples = totals[-1]
        mean = totals[:channels] / samples
        variance = totals[channels:2 * channels] / samples - mean * mean
        if self.track_running_stats:
            self._update_running_statistics(mean.detach(), variance.detach(), samples.detach())
        shape = [1, channels] + [1] * (input.dim() - 2)
        output = (input - mean.view(shape)) * torch.rsqrt(variance.view(shape) + self.eps)
        if self.affine:
            output = output * self.weight.view(shape) + self.bias.view(shape)
        return output

    @torch.no_grad()
    def _update_running_statistics(self, mean: torch.Tensor, variance: torch.Tensor, samples: torch.Tensor) -> None:
        self.num_batches_tracked.add_(1)
        factor = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
        unbiased = variance * samples / (samples - 1).clamp(min=1)
        self.running_mean.lerp_(mean.to(self.running_mean.dtype), factor)
        self.running_var.lerp_(unbiased.to(self.running_var.dtype), factor)
