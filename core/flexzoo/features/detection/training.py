"""A detection head's objective: the ``centernet`` loss, its target checks, and mAP collected over validation.

The target is one array of boxes per sample, ``(K, 5)`` float rows ``[class, x1, y1, x2, y2]`` in input
pixels, unused rows of class -1 (see :mod:`flexzoo.features.detection.centernet` for the head's output layout).

The loss of one image is the penalty-reduced focal loss of its centre heatmaps plus the L1 loss of the
box sizes (times :data:`SIZE_WEIGHT`) and centre offsets at the objects' centre cells, divided by the
number of objects in that image. Normalising per image (not per batch) keeps the loss a sum over
samples, so ranks holding parts of a global batch add up like every other head's.

mAP cannot be summed per batch: a :class:`DetectionScore` collects the decoded boxes of every validation
batch and scores them once, at the end of the pass, with torchmetrics' ``MeanAveragePrecision``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
import torch.distributed as dist
import torch.nn.functional as F

from flexzoo.errors import FlexzooError, ParameterError
from flexzoo.features.detection.centernet import BOX_CHANNELS, centre_targets, decode

if TYPE_CHECKING:
    from flexzoo.manifest.train import HeadObjective

__all__ = ["DetectionScore", "boxes_problem", "centernet_loss", "detection_score"]

SIZE_WEIGHT = 0.1  # CenterNet's: sizes are in cells, several times larger than offsets
FOCAL_ALPHA, FOCAL_BETA = 2, 4
METRIC_TOP_K, METRIC_THRESHOLD = 100, 0.001  # COCO scores up to 100 detections per image
MAP_KEYS = {"map50": "map_50", "map": "map"}  # our metric -> MeanAveragePrecision's key
EXTRA = "pip install 'flexzoo[detection]'"


def centernet_loss(output: torch.Tensor, boxes: torch.Tensor, input_size: tuple[int, int]) -> torch.Tensor:
    """Each image's loss ``(B,)``: focal loss on the centre heatmaps + L1 on sizes and offsets, per object."""
    classes = output.shape[1] - BOX_CHANNELS
    output = output.float()
    targets = centre_targets(boxes, classes, (output.shape[-2], output.shape[-1]), input_size)
    logits = output[:, :classes]
    probability = logits.sigmoid()
    centre = targets.heatmap.eq(1).float()
    positive = -F.logsigmoid(logits) * (1 - probability) ** FOCAL_ALPHA * centre
    negative = -F.logsigmoid(-logits) * probability**FOCAL_ALPHA * (1 - targets.heatmap) ** FOCAL_BETA * (1 - centre)
    focal = (positive + negative).flatten(1).sum(dim=1)
    predicted = output[:, classes:].flatten(2).gather(
        2, targets.cell[:, None].expand(-1, BOX_CHANNELS, -1)).transpose(1, 2)  # (B, K, 4)
    l1 = (SIZE_WEIGHT * (predicted[..., :2] - targets.size).abs().sum(-1)
          + (predicted[..., 2:] - targets.offset).abs().sum(-1)) * targets.valid
    objects = targets.valid.sum(dim=1).clamp(min=1)
    return (focal + l1.sum(dim=1)) / objects


def boxes_problem(target: torch.Tensor, classes: int) -> str:
    """Why ``target`` is not a batch of box rows for ``classes`` classes, or ``""``."""
    if not target.dtype.is_floating_point or target.ndim != 3 or target.shape[-1] != 5:
        return (f"must hold rows [class, x1, y1, x2, y2] per sample, (samples, boxes, 5) floats with class -1 "
                f"on unused rows; it is {target.dtype} of shape {list(target.shape)}")
    values = target[..., 0].unique()
    wrong = values[(values != values.round()) | (values < -1) | (values >= classes)]
    if len(wrong):
        shown = ", ".join(f"{v:g}" for v in wrong[:5].tolist())
        return (f"has class values {shown}, but the head predicts classes 0..{classes - 1} (and -1 marks an "
                "unused row)")
    return ""


def detection_score(head: HeadObjective, output: torch.Tensor, target: torch.Tensor,
                    input_size: tuple[int, int] | None) -> DetectionScore:
    """Check a detection head's output (the CenterNet layout, on image inputs) and its boxes; its score."""
    classes = output.shape[1] - BOX_CHANNELS if output.ndim == 4 else 0
    if classes < 1 or input_size is None:
        raise ParameterError("loss", f"the centernet loss needs a detection head returning (batch, classes + 4, "
                             f"height, width) on image inputs; head `{head.name}` returns {list(output.shape)}",
                             'use a `detection` head, or another loss')
    problem = boxes_problem(target, classes)
    if problem:
        raise ParameterError("target", f"target `{head.target}` of detection head `{head.name}` {problem}",
                             "give boxes as written by examples/make_shapes.py --boxes, and num_classes covering them")
    if head.metrics:
        mean_average_precision()  # a missing package is refused before training, not after the first epoch
    return DetectionScore(head, int(output.shape[1]), input_size)


class DetectionScore:
    """A ``centernet`` head's loss, and its mAP metrics collected over a validation pass.

    ``sums`` gives no sums to add over ranks (an empty tensor): it decodes the batch and keeps each image's
    found and true boxes. ``metrics`` scores what was kept and forgets it. Under several ranks
    (torch.distributed initialised) every rank calls ``metrics``, which first gathers every rank's images
    in rank order (ranks hold different numbers of images, which torchmetrics' own state sync cannot
    take), so every rank scores the same boxes and gets the same values.
    """

    sums_size = 0

    def __init__(self, head: HeadObjective, outputs: int, input_size: tuple[int, int]) -> None:
        self.head = head
        self.outputs = outputs  # classes + BOX_CHANNELS
        self.input_size = input_size
        self._images: list[tuple[torch.Tensor, torch.Tensor]] = []  # (found rows, true rows) per image, on the CPU

    def target_of(self, targets: dict[str, torch.Tensor], like: torch.Tensor) -> torch.Tensor:
        return targets[self.head.target].to(like.device, torch.float32)

    def loss(self, output: torch.Tensor, target: torch.Tensor, denominator: float, weight: float = 1.0
             ) -> torch.Tensor:
        """The images' losses summed, times ``weight / denominator``."""
        return centernet_loss(output, target, self.input_size).sum() * (weight / denominator)

    def sums(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Keep the batch's decoded boxes and its true boxes for the mAP; nothing to sum."""
        if self.head.metrics and len(output):
            found = decode(output, self.input_size, METRIC_TOP_K, METRIC_THRESHOLD)
            self._images += [(rows.cpu(), image[image[:, 0] >= 0].cpu()) for rows, image in zip(found, target.float())]
        return output.new_zeros(0, dtype=torch.float64)

    def metrics(self, sums: torch.Tensor, count: float) -> dict[str, float]:
        """mAP@0.5 (``map50``) and mAP@[.5:.95] (``map``) over what the pass collected; then forget it."""
        if not self.head.metrics:
            return {}
        images, self._images = all_ranks(self._images), []
        metric = mean_average_precision()
        metric.update([{"boxes": rows[:, 2:], "scores": rows[:, 1], "labels": rows[:, 0].long()} for rows, _ in images],
                      [{"boxes": true[:, 1:], "labels": true[:, 0].long()} for _, true in images])
        computed = metric.compute()
        return {name: max(float(computed[MAP_KEYS[name]]), 0.0) for name in self.head.metrics}  # -1: no boxes

    def reset(self) -> None:
        """Forget what an earlier (perhaps interrupted) pass collected."""
        self._images = []


def all_ranks(items: list) -> list:
    """Every rank's ``items``, in rank order (this rank's own when torch.distributed is not initialised)."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return items
    gathered: list = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, items)
    return [item for part in gathered for item in part]


def mean_average_precision() -> Any:
    """torchmetrics' MeanAveragePrecision on pycocotools (boxes x1, y1, x2, y2), or one error naming the extra."""
    try:
        import pycocotools  # noqa: F401  (torchmetrics only says it is missing when computing)
        from torchmetrics.detection import MeanAveragePrecision
    except ImportError as missing:
        raise FlexzooError(f"the detection metrics map50 and map need torchmetrics and pycocotools ({missing}); "
                           f"install them with {EXTRA}, or set metrics = [] for the head") from None
    # the ranks' images are gathered before they reach the metric: its own sync stays off
    return MeanAveragePrecision(box_format="xyxy", iou_type="bbox", backend="pycocotools", sync_on_compute=False)
