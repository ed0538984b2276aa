"""Per-head losses and metrics: cross-entropy with accuracy, macro-F1 and mean IoU, regression losses with MSE and
MAE, and a detection head's ``centernet`` loss with mAP (:mod:`flexzoo.features.detection.training`).

A classification head may be dense: an output ``(B, classes, H, W)`` against a target of one class
per pixel ``(B, H, W)`` (segmentation); its loss is the per-pixel cross-entropy, averaged per sample,
and its metrics come from the confusion matrix over pixels.

Losses are sums divided by a given denominator, so that ranks holding unequal parts of a global
batch still add up to the loss of the whole batch. Metrics are accumulated as sums (a confusion
matrix, squared and absolute errors) that ranks add together before the metrics are computed.

One kind of metric cannot be summed: mAP ranks every detection of the whole validation split. A head
score that needs it collects instead (its ``sums`` are empty; it keeps a metric state updated per
batch) and computes in ``metrics`` at the end of the pass; ``Objective.reset`` starts a pass afresh.
The sum-based heads collect nothing and their ``reset`` does nothing.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from flexzoo.errors import ManifestKeyError
from flexzoo.features.detection.training import DetectionScore, boxes_problem, mean_average_precision
from flexzoo.host.registry import did_you_mean
from flexzoo.manifest.train import HeadObjective

MEAN_LOSSES = {
    "cross_entropy": F.cross_entropy, "mse": F.mse_loss, "mae": F.l1_loss, "smooth_l1": F.smooth_l1_loss,
}


class HeadScore:
    """One head's loss and the sums its metrics are computed from."""

    def __init__(self, head: HeadObjective, outputs: int) -> None:
        self.head = head
        self.outputs = outputs  # classes, or regression values per sample

    @property
    def sums_size(self) -> int:
        """How many values ``sums`` gives."""
        return self.outputs**2 if self.head.task == "classification" else 2

    def reset(self) -> None:
        """Nothing to forget: sums are handed back per batch."""

    def target_of(self, targets: dict[str, torch.Tensor], like: torch.Tensor) -> torch.Tensor:
        target = targets[self.head.target]
        if self.head.task == "classification":
            if target.is_floating_point() and target.ndim == 2:  # mixed (mixup, cutmix): class probabilities
                return target.to(like.device)
            return target.to(like.device, torch.long)
        return target.to(like.device, torch.float32).reshape(like.shape)

    def loss(self, output: torch.Tensor, target: torch.Tensor, denominator: float, weight: float = 1.0
             ) -> torch.Tensor:
        """The loss summed over the samples given, times ``weight / denominator`` (per value, for regression).

        Computed as the mean times ``samples * weight / denominator``, a factor of 1 (and no extra
        operation) in the common case of one process and weight 1.
        """
        mean = MEAN_LOSSES[self.head.loss](output.float(), target)
        factor = len(output) * weight / denominator
        return mean if factor == 1.0 else mean * factor

    def sums(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """What validation accumulates: a flattened confusion matrix, or [squared error, absolute error]."""
        output = output.detach().float()
        if self.head.task == "classification":
            predicted = output.argmax(dim=1)
            cells = target * self.outputs + predicted
            return torch.bincount(cells.reshape(-1), minlength=self.outputs**2).double()
        error = output - target
        return torch.stack([error.pow(2).sum(), error.abs().sum()]).double()

    def metrics(self, sums: torch.Tensor, count: float) -> dict[str, float]:
        """The head's metrics from reduced sums over ``count`` samples."""
        if self.head.task == "classification":
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
        else:
            values = {"mse": float(sums[0] / max(count * self.outputs, 1)),
                      "mae": float(sums[1] / max(count * self.outputs, 1))}
        return {name: values[name] for name in self.head.metrics}


class Objective:
    """The weighted sum of the heads' losses, and their metrics."""

    def __init__(self, heads: tuple[HeadObjective, ...], scores: dict[str, HeadScore | DetectionScore]) -> None:
        self.heads = heads
        self.scores = scores

    def classes(self) -> dict[str, int]:
        """Each classification target's number of classes: the outputs of the head trained on it."""
        return {score.head.target: score.outputs for score in self.scores.values()
                if isinstance(score, HeadScore) and score.head.task == "classification"}

    @classmethod
    def for_model(cls, heads: tuple[HeadObjective, ...], outputs: dict[str, torch.Tensor],
                  targets: dict[str, torch.Tensor], input_size: tuple[int, int] | None = None) -> Objective:
        """Check each head's target (all of it) against the model's output on a sample batch; build the objective.

        ``input_size``: the inputs' height and width, where they are images (a detection head needs it).
        """
        scores: dict[str, HeadScore | DetectionScore] = {}
        for head in heads:
            key = f"train.heads.{head.name}"
            if head.target not in targets:
                hint = did_you_mean(head.target, targets) or f"the data has {', '.join(sorted(targets))}"
                raise ManifestKeyError(f"{key}.target", f"head `{head.name}` trains on target `{head.target}`, "
                                       "which the data does not have",
                                       f"set target = one of the data's targets; {hint}")
            output, target = outputs[head.name], targets[head.target]
            if head.task == "detection":
                scores[head.name] = cls._detection(head, output, target, input_size)
                continue
            dense = head.task == "classification" and output.ndim > 2
            if output.ndim != 2 and not dense:
                raise ManifestKeyError(key, f"head `{head.name}` returns shape {list(output.shape)}; training needs "
                                       "(batch, outputs)", "use a head that returns one vector per sample")
            if dense and (target.dtype.is_floating_point or list(target.shape[1:]) != list(output.shape[2:])):
                boxes = target.ndim == 3 and target.shape[-1] == 5
                raise ManifestKeyError(f"{key}.target", f"head `{head.name}` returns per-pixel classes "
                                       f"{list(output.shape)}, so target `{head.target}` must hold one integer class "
                                       f"per pixel, {list(output.shape[2:])} per sample; it is {target.dtype} of shape "
                                       f"{list(target.shape)}",
                                       'set loss = "centernet" to train a detection head on boxes' if boxes
                                       else "give masks of the input's size as the target")
            if head.task == "classification":
                if not dense and (target.dtype.is_floating_point or target.ndim != 1):
                    raise ManifestKeyError(f"{key}.loss", "cross_entropy needs one integer class per sample, but "
                                           f"target `{head.target}` is {target.dtype} of shape {list(target.shape)}",
                                           'use loss = "mse" for a regression target')
                if int(target.max()) >= output.shape[1] or int(target.min()) < 0:
                    raise ManifestKeyError(f"heads.{head.name}", f"target `{head.target}` has classes "
                                           f"0..{int(target.max())}, but head `{head.name}` outputs {output.shape[1]}",
                                           f"set num_classes = {int(target.max()) + 1} or more")
            elif target[0].numel() != output.shape[1]:
                raise ManifestKeyError(f"heads.{head.name}", f"target `{head.target}` has {target[0].numel()} "
                                       f"value(s) per sample, but head `{head.name}` outputs {output.shape[1]}",
                                       f"set num_classes = {target[0].numel()}")
            scores[head.name] = HeadScore(head, int(output.shape[1]))
        return cls(heads, scores)

    @staticmethod
    def _detection(head: HeadObjective, output: torch.Tensor, target: torch.Tensor,
                   input_size: tuple[int, int] | None) -> DetectionScore:
        key = f"train.heads.{head.name}"
        classes = output.shape[1] - 4 if output.ndim == 4 else 0
        if classes < 1 or input_size is None:
            raise ManifestKeyError(f"{key}.loss", "the centernet loss needs a detection head returning (batch, "
                                   f"classes + 4, height, width) on image inputs; head `{head.name}` returns "
                                   f"{list(output.shape)}",
                                   'use a `detection` head, or another loss')
        problem = boxes_problem(target, classes)
        if problem:
            raise ManifestKeyError(f"{key}.target", f"target `{head.target}` of detection head `{head.name}` "
                                   f"{problem}", "give boxes as written by examples/make_shapes.py --boxes, and "
                                   "num_classes covering them")
        if head.metrics:
            mean_average_precision()  # a missing package is refused before training, not after the first epoch
        return DetectionScore(head, int(output.shape[1]), input_size)

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
