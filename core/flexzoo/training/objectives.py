"""The objective of a training run: the weighted sum of the heads' losses, and their metrics.

Each head's task (:class:`~flexzoo.plugin.HeadTask`, declared by its component) makes the head's score
(:mod:`flexzoo.tasks.scores` for the builtin classification, segmentation and regression tasks,
:mod:`flexzoo.features.detection.training` for detection); this module knows none of them.

Losses are sums divided by a given denominator, so that ranks holding unequal parts of a global
batch still add up to the loss of the whole batch. Metrics are accumulated as sums that ranks add
together (one all-reduce of one float64 vector) before the metrics are computed.

One kind of metric cannot be summed: mAP ranks every detection of the whole validation split. A head
score that needs it collects instead (its ``sums`` are empty; it keeps a metric state updated per
batch) and computes in ``metrics`` at the end of the pass; ``Objective.reset`` starts a pass afresh.
The sum-based heads collect nothing and their ``reset`` does nothing.
"""

from __future__ import annotations

from typing import Any

import torch

from flexzoo.errors import ManifestKeyError, ParameterError
from flexzoo.host.registry import did_you_mean
from flexzoo.manifest.train import HeadObjective
from flexzoo.tasks.scores import ClassScore

#: A head's ``[train.heads.<name>]`` keys: a task's ParameterError naming one is reported there.
_TRAIN_KEYS = ("loss", "metrics", "target", "weight")


class Objective:
    """The weighted sum of the heads' losses, and their metrics."""

    def __init__(self, heads: tuple[HeadObjective, ...], scores: dict[str, Any]) -> None:
        self.heads = heads
        self.scores = scores

    def classes(self) -> dict[str, int]:
        """Each classification target's number of classes: the outputs of the head trained on it."""
        return {score.head.target: score.outputs for score in self.scores.values() if isinstance(score, ClassScore)}

    @classmethod
    def for_model(cls, heads: tuple[HeadObjective, ...], outputs: dict[str, torch.Tensor],
                  targets: dict[str, torch.Tensor], input_size: tuple[int, int] | None = None
                  ) -> Objective:
        """Check each head's target (all of it) against the model's output on a sample batch; build the objective.

        ``input_size``: the inputs' height and width, where they are images (a detection head needs it).
        """
        scores: dict[str, Any] = {}
        for head in heads:
            key = f"train.heads.{head.name}"
            if head.target not in targets:
                hint = did_you_mean(head.target, targets) or f"the data has {', '.join(sorted(targets))}"
                raise ManifestKeyError(f"{key}.target", f"head `{head.name}` trains on target `{head.target}`, "
                                       "which the data does not have",
                                       f"set target = one of the data's targets; {hint}")
            try:
                scores[head.name] = head.head_task.score(head, outputs[head.name], targets[head.target], input_size)
            except ParameterError as error:  # train.heads.<name>.<key>, or the head's own table for its parameters
                where = f"{key}.{error.parameter}" if error.parameter in _TRAIN_KEYS else \
                    key if not error.parameter else f"heads.{head.name}"
                raise ManifestKeyError(where, error.message, error.hint) from error
        return cls(heads, scores)

    def reset(self) -> None:
        """Start a validation pass: heads that collect (mAP) forget what an earlier pass left."""
        for score in self.scores.values():
            score.reset()

    def loss(self, outputs: dict[str, torch.Tensor], targets: dict[str, torch.Tensor], denominator: float
             ) -> torch.Tensor:
        """The weighted total of the heads' losses (heads of weight 0 are left out)."""
        total = None
        for head in self.heads:
            if not head.weight:
                continue
            score = self.scores[head.name]
            output = outputs[head.name]
            value = score.loss(output, score.target_of(targets, output), denominator, head.weight)
            total = value if total is None else total + value
        assert total is not None
        return total

    def sums(self, outputs: dict[str, torch.Tensor], targets: dict[str, torch.Tensor]) -> torch.Tensor:
        """One flat float64 vector: per head, its summed loss and its metric sums (ranks add these)."""
        pieces = []
        for head in self.heads:
            score = self.scores[head.name]
            output = outputs[head.name]
            target = score.target_of(targets, output)
            summed = score.loss(output, target, 1.0) if len(output) else output.new_zeros(())  # an empty shard
            pieces.append(summed.detach().double().reshape(1))
            pieces.append(score.sums(output, target))
        return torch.cat(pieces)

    def metrics(self, sums: torch.Tensor, count: float) -> dict[str, float]:
        """``loss``, and ``<head>.loss`` and ``<head>.<metric>`` for every head, from reduced sums."""
        found: dict[str, float] = {}
        total = 0.0
        offset = 0
        for head in self.heads:
            score = self.scores[head.name]
            size = score.sums_size
            head_loss = float(sums[offset]) / max(count, 1)  # the summed loss is already per value
            found[f"{head.name}.loss"] = head_loss
            found.update({f"{head.name}.{k}": v for k, v in score.metrics(sums[offset + 1: offset + 1 + size],
                                                                          count).items()})
            total += head.weight * head_loss
            offset += 1 + size
        return {"loss": total, **found}
