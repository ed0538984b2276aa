"""Adversarial examples through torchattacks: FGSM and PGD (L-infinity), in pixel space.

The attacked function is the whole way from pixels to a head's logits: the preprocessing the artifact
records (``(x - mean) / std``) is applied inside it, so that an epsilon is a change of pixel values in
``[0, 1]`` whatever the model's normalization, and the adversarial images stay valid images.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

__all__ = ["ATTACKS", "PixelClassifier", "adversarial_examples", "default_step_size"]

ATTACKS = ("fgsm", "pgd")


class PixelClassifier(nn.Module):
    """``model``'s logits for one head, from images in pixel space ``[0, 1]`` (normalized inside)."""

    def __init__(self, model: nn.Module, head: str, mean: Sequence[float] | None = None,
                 std: Sequence[float] | None = None) -> None:
        super().__init__()
        self.model = model
        self.head = head
        shape = (1, -1, 1, 1)
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).reshape(shape) if mean else None,
                             persistent=False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).reshape(shape) if std else None,
                             persistent=False)

    def normalize(self, pixels: torch.Tensor) -> torch.Tensor:
        """Pixels in [0, 1] -> model inputs (the preprocessing's mean and std, when it has them)."""
        if self.mean is None or self.std is None:
            return pixels
        return (pixels - self.mean) / self.std

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.model(self.normalize(pixels))[self.head]


def default_step_size(epsilon: float, steps: int) -> float:
    """PGD's step: 2.5 epsilon / steps (Madry et al. 2018), so that the walk can cross the ball and back."""
    return 2.5 * epsilon / steps


def _attack(classifier: nn.Module, method: str, epsilon: float, steps: int, step_size: float | None) -> Any:
    import torchattacks

    if method == "fgsm":
        return torchattacks.FGSM(classifier, eps=epsilon)
    if method == "pgd":
        return torchattacks.PGD(classifier, eps=epsilon, steps=steps,
                                alpha=step_size if step_size is not None else default_step_size(epsilon, steps),
                                random_start=True)
    raise ValueError(f"unknown attack `{method}`; attacks: {', '.join(ATTACKS)}")


def adversarial_examples(classifier: nn.Module, pixels: torch.Tensor, labels: torch.Tensor, method: str,
                         epsilon: float, steps: int = 10, step_size: float | None = None) -> torch.Tensor:
    """Images within ``epsilon`` (L-infinity) of ``pixels`` that raise ``classifier``'s loss on ``labels``.

    :param classifier: pixels in [0, 1] -> logits (a :class:`PixelClassifier`); its train/eval mode is
        kept, and its modules run in eval mode while the attack runs (torchattacks' default).
    :param steps: PGD's iterations (FGSM takes one); :param step_size: PGD's step (default 2.5 epsilon / steps).
    """
    if epsilon == 0:
        return pixels.detach().clone()
    attack = _attack(classifier, method, epsilon, steps, step_size)
    return attack(pixels, labels.long()).detach()
