"""The scores of the builtin classification, segmentation and regression tasks: cross-entropy with accuracy,
macro-F1 and mean IoU, regression losses with MSE and MAE.

A classification head may be dense: an output ``(B, classes, H, W)`` against a target of one class
per pixel ``(B, H, W)`` (segmentation); its loss is the per-pixel cross-entropy, averaged per sample,
and its metrics come from the confusion matrix over pixels.

Losses are sums divided by a given denominator, so that ranks holding unequal parts of a global
batch still add up to the loss of the whole batch. Metrics are accumulated as sums (a confusion
matrix, squared and absolute errors) that ranks add together before the metrics are computed.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from flexzoo.errors import ParameterError

__all__ = ["ClassScore", "ValueScore", "classification", "regression"]

MEAN_LOSSES = {
    "cross_entropy": F.cross_entropy, "mse": F.mse_loss, "mae": F.l1_loss, "smooth_l1": F.smooth_l1_loss,
}


class _MeanLoss:
    """A loss computed as a mean over the batch, then scaled to a sum times ``weight / denominator``."""

    def __init__(self, head: Any, outputs: int) -> None:
        self.head = head
        self.outputs = outputs  # classes, or regression values per sample

    def reset(self) -> None:
        """Nothing to forget: sums are handed back per batch."""

    def loss(self, output: torch.Tensor, target: torch.Tensor, denominator: float, weight: float = 1.0
             ) -> torch.Tensor:
        """The loss summed over the samples given, times ``weight / denominator`` (per value, for regression).

        Computed as the mean times ``samples * weight / denominator``, a factor of 1 (and no extra
        operation) in the common case of one process and weight 1.
        """
        mean = MEAN_LOSSES[self.head.loss](output.float(), target)
        factor = len(output) * weight / denominator
        return mean if factor == 1.0 else mean * factor


class ClassScore(_MeanLoss):
    """A classification head's cross-entropy, and the confusion matrix its metrics come from."""

    @property
    def sums_size(self) -> int:
        return self.outputs**2

    def target_of(self, targets: dict[str, torch.Tensor], like: torch.Tensor) -> torch.Tensor:
        target = targets[self.head.target]
        if target.is_floating_point() and target.ndim == 2:  # mixed (mixup, cutmix): class probabilities
            return target.to(like.device)
        return target.to(like.device, torch.long)

    def sums(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """A flattened confusion matrix (over samples, or pixels for a dense head)."""
        predicted = output.detach().float().argmax(dim=1)
        cells = target * self.outputs + predicted
        return torch.bincount(cells.reshape(-1), minlength=self.outputs**2).double()

    def metrics(self, sums: torch.Tensor, count: float) -> dict[str, float]:
        confusion = sums.reshape(self.outputs, self.outputs)
        correct = confusion.diag()
        actual, predicted = confusion.sum(dim=1), confusion.sum(dim=0)
        present = (actual + predicted) > 0
        f1 = 2 * correct[present] / (actual[present] + predicted[present])
        iou = correct[present] / (actual[present] + predicted[present] - correct[present])
        counted = float(confusion.sum())  # samples, or pixels for a dense head
        values = {"accuracy": float(correct.sum() / max(counted, 1)),
                  "macro_f1": float(f1.mean()) if present.any() else 0.0,
                  "miou": float(iou.mean()) if present.any() else 0.0}
        return {name: values[name] for name in self.head.metrics}


class ValueScore(_MeanLoss):
    """A regression head's loss, and the squared and absolute errors its metrics come from."""

    sums_size = 2

    def target_of(self, targets: dict[str, torch.Tensor], like: torch.Tensor) -> torch.Tensor:
        return targets[self.head.target].to(like.device, torch.float32).reshape(like.shape)

    def sums(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """[squared error, absolute error], summed."""
        error = output.detach().float() - target
        return torch.stack([error.pow(2).sum(), error.abs().sum()]).double()

    def metrics(self, sums: torch.Tensor, count: float) -> dict[str, float]:
        values = {"mse": float(sums[0] / max(count * self.outputs, 1)),
                  "mae": float(sums[1] / max(count * self.outputs, 1))}
        return {name: values[name] for name in self.head.metrics}


def classification(head: Any, output: torch.Tensor, target: torch.Tensor, input_size: tuple[int, int] | None
                   ) -> ClassScore:
    """Check a classification (or, dense, segmentation) head's output and target; its score."""
    dense = output.ndim > 2
    if output.ndim < 2:
        raise ParameterError("", f"head `{head.name}` returns shape {list(output.shape)}; training needs "
                             "(batch, outputs)", "use a head that returns one vector per sample")
    if dense and (target.dtype.is_floating_point or list(target.shape[1:]) != list(output.shape[2:])):
        boxes = target.ndim == 3 and target.shape[-1] == 5
        raise ParameterError("target", f"head `{head.name}` returns per-pixel classes {list(output.shape)}, so "
                             f"target `{head.target}` must hold one integer class per pixel, "
                             f"{list(output.shape[2:])} per sample; it is {target.dtype} of shape "
                             f"{list(target.shape)}", 'set loss = "centernet" to train a detection head on boxes'
                             if boxes else "give masks of the input's size as the target")
    if not dense and (target.dtype.is_floating_point or target.ndim != 1):
        raise ParameterError("loss", f"cross_entropy needs one integer class per sample, but target "
                             f"`{head.target}` is {target.dtype} of shape {list(target.shape)}",
                             'use loss = "mse" for a regression target')
    if int(target.max()) >= output.shape[1] or int(target.min()) < 0:
        raise ParameterError("num_classes", f"target `{head.target}` has classes 0..{int(target.max())}, but "
                             f"head `{head.name}` outputs {output.shape[1]}",
                             f"set num_classes = {int(target.max()) + 1} or more")
    return ClassScore(head, int(output.shape[1]))


def regression(head: Any, output: torch.Tensor, target: torch.Tensor, input_size: tuple[int, int] | None
               ) -> ValueScore:
    """Check a regression head's output and target; its score."""
    if output.ndim != 2:
        raise ParameterError("", f"head `{head.name}` returns shape {list(output.shape)}; training needs "
                             "(batch, outputs)", "use a head that returns one vector per sample")
    if target[0].numel() != output.shape[1]:
        raise ParameterError("num_classes", f"target `{head.target}` has {target[0].numel()} value(s) per "
                             f"sample, but head `{head.name}` outputs {output.shape[1]}",
                             f"set num_classes = {target[0].numel()}")
    return ValueScore(head, int(output.shape[1]))
