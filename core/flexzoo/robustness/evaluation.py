"""A classifier's accuracy on clean images, under each corruption and severity, and under attack per epsilon.

Everything is measured on the same images in pixel space ``[0, 1]`` with their labels, through a
:class:`~flexzoo.robustness.attacks.PixelClassifier` (the preprocessing inside). Corruptions are seeded
per (corruption, severity), attacks' random starts by ``seed``: the same call gives the same numbers.
The mean corruption error (mCE) is the paper's: per corruption, the errors summed over the severities
divided by a reference model's, averaged over the corruptions.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from flexzoo.robustness.attacks import adversarial_examples, default_step_size
from flexzoo.robustness.corruptions import corrupt

__all__ = ["accuracy", "evaluate_robustness", "mean_corruption_error"]

Progress = Callable[[str], None]


def accuracy(classifier: nn.Module, pixels: torch.Tensor, labels: torch.Tensor, batch_size: int = 256) -> float:
    """The share of ``pixels`` whose top class is their label."""
    correct = 0
    with torch.no_grad():
        for start in range(0, len(pixels), batch_size):
            logits = classifier(pixels[start:start + batch_size])
            correct += int((logits.argmax(dim=1) == labels[start:start + batch_size]).sum())
    return correct / len(pixels)


def _attacked_accuracy(classifier: nn.Module, pixels: torch.Tensor, labels: torch.Tensor, method: str,
                       epsilon: float, steps: int, batch_size: int) -> float:
    correct = 0
    for start in range(0, len(pixels), batch_size):
        batch, truth = pixels[start:start + batch_size], labels[start:start + batch_size]
        adversarial = adversarial_examples(classifier, batch, truth, method, epsilon, steps)
        with torch.no_grad():
            correct += int((classifier(adversarial).argmax(dim=1) == truth).sum())
    return correct / len(pixels)


def evaluate_robustness(classifier: nn.Module, pixels: torch.Tensor, labels: torch.Tensor, *,
                        corruptions: Sequence[str] = (), severities: Sequence[int] = (1, 2, 3, 4, 5),
                        attacks: Sequence[str] = (), epsilons: Sequence[float] = (), steps: int = 10,
                        seed: int = 0, batch_size: int = 256, progress: Progress | None = None) -> dict[str, Any]:
    """Accuracy clean, per corruption and severity, and per attack and epsilon, as one JSON-ready dict.

    :param pixels: ``[N, C, H, W]`` in [0, 1]; :param labels: ``[N]`` class indices.
    :param steps: PGD's iterations (step size 2.5 epsilon / steps, Madry et al. 2018, so that the walk can reach
        the ball's edge from any random start; recorded per epsilon as ``step_sizes``); FGSM takes one step.
    """
    classifier.eval()
    report = progress or (lambda _: None)
    results: dict[str, Any] = {"samples": len(pixels), "clean": accuracy(classifier, pixels, labels, batch_size)}
    if corruptions:
        images = pixels.cpu().numpy()
        table: dict[str, dict[str, float]] = {}
        for name in corruptions:
            table[name] = {}
            for severity in severities:
                report(f"{name} severity {severity}")
                corrupted = corrupt(images, name, severity, seed=zlib.crc32(f"{seed}:{name}:{severity}".encode()))
                table[name][str(severity)] = accuracy(classifier, torch.from_numpy(corrupted).to(pixels.device),
                                                      labels, batch_size)
        results["corruptions"] = table
        results["corruption_accuracy"] = float(np.mean([v for row in table.values() for v in row.values()]))
    for method in attacks:
        per_epsilon = {}
        for epsilon in epsilons:
            report(f"{method} epsilon {epsilon}")
            torch.manual_seed(seed)  # PGD's random start
            per_epsilon[_epsilon_key(epsilon)] = _attacked_accuracy(classifier, pixels, labels, method, epsilon,
                                                                     steps, batch_size)
        entry: dict[str, Any] = {"epsilons": per_epsilon, "norm": "linf", "space": "pixels in [0, 1]"}
        if method == "pgd":
            entry.update(steps=steps, random_start=True, step_size_rule="2.5 * epsilon / steps",
                         step_sizes={_epsilon_key(e): default_step_size(e, steps) for e in epsilons})
        results.setdefault("attacks", {})[method] = entry
    return results


def _epsilon_key(epsilon: float) -> str:
    return f"{epsilon:g}"


def mean_corruption_error(results: dict[str, Any], reference: dict[str, Any]) -> dict[str, Any]:
    """The paper's mCE of ``results`` against ``reference`` (both from :func:`evaluate_robustness`), and each CE.

    A corruption the reference makes no error under (its summed error is 0) has no CE and is left out.
    """
    ours, theirs = results.get("corruptions", {}), reference.get("corruptions", {})
    errors: dict[str, float] = {}
    for name, row in ours.items():
        shared = [s for s in row if s in theirs.get(name, {})]
        reference_error = sum(1 - theirs[name][s] for s in shared)
        if shared and reference_error > 0:
            errors[name] = sum(1 - row[s] for s in shared) / reference_error
    return {"mce": float(np.mean(list(errors.values()))) if errors else None, "per_corruption": errors,
            "reference_clean": reference["clean"]}

