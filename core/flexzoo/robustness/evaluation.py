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

from flexzoo.reporting.progress import Display, Units
from flexzoo.robustness.attacks import adversarial_examples, default_step_size
from flexzoo.robustness.corruptions import corrupt

__all__ = ["accuracy", "evaluate_robustness", "mean_corruption_error"]


def _ignore(_: int) -> None:
    pass


def accuracy(classifier: nn.Module, pixels: torch.Tensor, labels: torch.Tensor, batch_size: int = 256,
             advance: Callable[[int], None] = _ignore) -> float:
    """The share of ``pixels`` whose top class is their label; ``advance(n)`` hears of each batch of ``n``."""
    correct = 0
    with torch.no_grad():
        for start in range(0, len(pixels), batch_size):
            logits = classifier(pixels[start:start + batch_size])
            correct += int((logits.argmax(dim=1) == labels[start:start + batch_size]).sum())
            advance(len(logits))
    return correct / len(pixels)


def _attacked_accuracy(classifier: nn.Module, pixels: torch.Tensor, labels: torch.Tensor, method: str,
                       epsilon: float, steps: int, batch_size: int, advance: Callable[[int], None]) -> float:
    correct = 0
    for start in range(0, len(pixels), batch_size):
        batch, truth = pixels[start:start + batch_size], labels[start:start + batch_size]
        adversarial = adversarial_examples(classifier, batch, truth, method, epsilon, steps)
        with torch.no_grad():
            correct += int((classifier(adversarial).argmax(dim=1) == truth).sum())
        advance(len(batch))
    return correct / len(pixels)


def evaluate_robustness(classifier: nn.Module, pixels: torch.Tensor, labels: torch.Tensor, *,
                        corruptions: Sequence[str] = (), severities: Sequence[int] = (1, 2, 3, 4, 5),
                        attacks: Sequence[str] = (), epsilons: Sequence[float] = (), steps: int = 10,
                        seed: int = 0, batch_size: int = 256, display: Display = "off",
                        description: str = "evaluate") -> dict[str, Any]:
    """Accuracy clean, per corruption and severity, and per attack and epsilon, as one JSON-ready dict.

    :param pixels: ``[N, C, H, W]`` in [0, 1]; :param labels: ``[N]`` class indices.
    :param steps: PGD's iterations (step size 2.5 epsilon / steps, Madry et al. 2018, so that the walk can reach
        the ball's edge from any random start; recorded per epsilon as ``step_sizes``); FGSM takes one step.
    :param display: how each pass (clean, each corruption and severity, each attack and epsilon) is shown
        (:func:`flexzoo.reporting.progress.display_of`); ``description`` names the overall bar.
    """
    classifier.eval()
    passes = 1 + len(corruptions) * len(severities) + len(attacks) * len(epsilons)
    with Units(description, passes, "passes", display=display) as units:
        results: dict[str, Any] = {"samples": len(pixels), "clean": accuracy(
            classifier, pixels, labels, batch_size, units.begin("clean", len(pixels)))}
        units.end(f"clean  accuracy {results['clean']:.4f}")
        if corruptions:
            results.update(_corrupted(classifier, pixels, labels, corruptions, severities, seed, batch_size, units))
        for method in attacks:
            per_epsilon = {}
            for epsilon in epsilons:
                name = f"{method} epsilon {epsilon:g}"
                torch.manual_seed(seed)  # PGD's random start
                per_epsilon[_epsilon_key(epsilon)] = value = _attacked_accuracy(
                    classifier, pixels, labels, method, epsilon, steps, batch_size, units.begin(name, len(pixels)))
                units.end(f"{name}  robust accuracy {value:.4f}")
            results.setdefault("attacks", {})[method] = _attack_entry(method, per_epsilon, epsilons, steps)
    return results


def _corrupted(classifier: nn.Module, pixels: torch.Tensor, labels: torch.Tensor, corruptions: Sequence[str],
               severities: Sequence[int], seed: int, batch_size: int, units: Units) -> dict[str, Any]:
    """The accuracy per corruption and severity, and their mean; one unit of ``units`` each."""
    images = pixels.cpu().numpy()
    table: dict[str, dict[str, float]] = {}
    for name in corruptions:
        table[name] = {}
        for severity in severities:
            advance = units.begin(f"{name} severity {severity}", len(pixels))
            corrupted = corrupt(images, name, severity, seed=zlib.crc32(f"{seed}:{name}:{severity}".encode()))
            table[name][str(severity)] = value = accuracy(
                classifier, torch.from_numpy(corrupted).to(pixels.device), labels, batch_size, advance)
            units.end(f"{name} severity {severity}  accuracy {value:.4f}")
    return {"corruptions": table,
            "corruption_accuracy": float(np.mean([v for row in table.values() for v in row.values()]))}


def _attack_entry(method: str, per_epsilon: dict[str, float], epsilons: Sequence[float], steps: int
                  ) -> dict[str, Any]:
    entry: dict[str, Any] = {"epsilons": per_epsilon, "norm": "linf", "space": "pixels in [0, 1]"}
    if method == "pgd":
        entry.update(steps=steps, random_start=True, step_size_rule="2.5 * epsilon / steps",
                     step_sizes={_epsilon_key(e): default_step_size(e, steps) for e in epsilons})
    return entry


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

