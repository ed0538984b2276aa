"""Adversarial training (``[train.adversarial]``): a share of each batch replaced by its adversarial examples.

The examples are made in pixel space ``[0, 1]``, as ``zoo evaluate`` attacks (torchattacks' FGSM or PGD,
the data's mean and std applied inside the attacked function), against the model as it is at that step,
on each rank's own share of the batch. The attack runs on the plain module, not on the strategy's wrapper:
its gradients are taken with respect to the inputs only, so no parameter gradient is made or synchronized,
and DDP sees one forward and one backward per step as usual.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from flexzoo.errors import ManifestKeyError
from flexzoo.manifest.train import AdversarialSettings
from flexzoo.robustness.attacks import PixelClassifier, adversarial_examples

__all__ = ["Adversary", "plain_module"]

PIXEL_TOLERANCE = 1e-4
RANGE_SAMPLES = 4096  # in-memory samples whose range is checked before training


def plain_module(wrapped: nn.Module) -> nn.Module:
    """The module under ``torch.compile``'s and DDP's wrappers (other wrappers are kept: they own the forward)."""
    while True:
        if hasattr(wrapped, "_orig_mod"):
            wrapped = wrapped._orig_mod
        elif type(wrapped).__name__ == "DistributedDataParallel":
            wrapped = wrapped.module
        else:
            return wrapped


class Adversary:
    """Replaces the first ``ratio`` of each (already shuffled) batch by adversarial examples of its samples."""

    def __init__(self, settings: AdversarialSettings, target: str, mean: list[float] | None,
                 std: list[float] | None) -> None:
        self.settings = settings
        self.target = target
        self.mean, self.std = mean, std

    @classmethod
    def for_run(cls, settings: AdversarialSettings, heads: Any, data: Any) -> Adversary:
        """The adversary of a run, after checking that its inputs are images in pixel space."""
        if isinstance(data.inputs, dict):
            raise ManifestKeyError("train.adversarial", "adversarial training attacks one image input, and this "
                                   f"model takes several ({', '.join(data.inputs)})", "remove [train.adversarial]")
        head = next(h for h in heads if h.name == settings.head)
        preprocessing = data.preprocessing() or {}
        mean, std = preprocessing.get("mean"), preprocessing.get("std")
        if data.in_memory:
            sample = data.inputs[data.train_index[:RANGE_SAMPLES]].float()
            low, high = float(sample.min()), float(sample.max())
            if low < -PIXEL_TOLERANCE or high > 1 + PIXEL_TOLERANCE:
                raise ManifestKeyError("train.adversarial", "adversarial examples are made in pixel space [0, 1], "
                                       f"and the data's inputs range over [{low:.3g}, {high:.3g}]",
                                       "scale the arrays to [0, 1], or train on images (their mean and std are "
                                       "undone)")
        return cls(settings, head.target, mean, std)

    def __call__(self, module: nn.Module, inputs: torch.Tensor, targets: dict[str, torch.Tensor]) -> torch.Tensor:
        """``inputs`` (model inputs, normalized) with their first ``ratio`` share made adversarial."""
        settings = self.settings
        count = round(settings.ratio * len(inputs))
        if count == 0:
            return inputs
        classifier = PixelClassifier(module, settings.head, self.mean, self.std).to(inputs.device)
        pixels = inputs[:count].float()
        if self.mean is not None and self.std is not None:
            pixels = pixels * classifier.std + classifier.mean
        labels = targets[self.target][:count].to(inputs.device)
        adversarial = adversarial_examples(classifier, pixels.clamp(0, 1), labels, settings.method,
                                           settings.epsilon, settings.steps, settings.step_size)
        return torch.cat([classifier.normalize(adversarial).to(inputs.dtype), inputs[count:]])
