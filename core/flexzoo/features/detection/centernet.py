"""The CenterNet output layout of a detection head: centre heatmaps built from boxes, and boxes decoded back.

A detection head returns ONE dense tensor ``(B, classes + 4, h, w)`` on a map ``stride`` times smaller
than the input (``stride = input size / map size``, per axis):

- channels ``0 .. classes - 1``: per-class centre-heatmap logits (sigmoid: the score of an object of that
  class centred in the cell);
- channels ``classes, classes + 1``: the box's width and height, in map cells;
- channels ``classes + 2, classes + 3``: the centre's offset inside its cell (x, y), in cells.

Boxes are rows ``[class, x1, y1, x2, y2]`` in input pixels; a fixed number of rows per image, unused
rows with class -1. The training loss (``flexzoo.features.detection.training``), the mAP metric and
``zoo predict`` / ``zoo serve`` all go through :func:`centre_targets` and :func:`decode`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

__all__ = ["BOX_CHANNELS", "CentreTargets", "centre_targets", "decode", "strides"]

BOX_CHANNELS = 4  # width, height, offset x, offset y
MIN_SIGMA = 0.5  # cells: a small box's Gaussian still reaches its neighbours (penalty-reduced negatives)


def strides(output: torch.Tensor, input_size: tuple[int, int]) -> tuple[float, float]:
    """The map's stride (y, x) in input pixels."""
    return input_size[0] / output.shape[-2], input_size[1] / output.shape[-1]


@dataclass(frozen=True)
class CentreTargets:
    """What a head should predict for a batch of boxes ``(B, K, 5)``, on its ``(h, w)`` map."""

    heatmap: torch.Tensor  # (B, classes, h, w): a Gaussian per box on its class, 1 exactly at its centre cell
    valid: torch.Tensor  # (B, K) bool: rows holding a box
    cell: torch.Tensor  # (B, K) long: y * w + x of each box's centre cell
    size: torch.Tensor  # (B, K, 2): width, height in cells
    offset: torch.Tensor  # (B, K, 2): the centre's place inside its cell, in [0, 1)


def centre_targets(boxes: torch.Tensor, classes: int, map_size: tuple[int, int], input_size: tuple[int, int]
                   ) -> CentreTargets:
    """The centre heatmaps, centre cells, sizes and offsets of ``boxes`` (rows [class, x1, y1, x2, y2] in pixels).

    Each box puts a Gaussian on its class's heatmap, centred on its centre cell, with a standard deviation of
    a sixth of its width (height) in cells, at least ``MIN_SIGMA``; overlapping Gaussians keep the maximum.
    """
    height, width = map_size
    stride_y, stride_x = input_size[0] / height, input_size[1] / width
    boxes = boxes.float()
    valid = boxes[..., 0] >= 0
    centre_x = (boxes[..., 1] + boxes[..., 3]) / 2 / stride_x
    centre_y = (boxes[..., 2] + boxes[..., 4]) / 2 / stride_y
    cell_x = centre_x.floor().clamp(0, width - 1)
    cell_y = centre_y.floor().clamp(0, height - 1)
    size = torch.stack([(boxes[..., 3] - boxes[..., 1]) / stride_x, (boxes[..., 4] - boxes[..., 2]) / stride_y], -1)
    sigma = (size / 6).clamp(min=MIN_SIGMA)
    xs = torch.arange(width, device=boxes.device, dtype=torch.float32)
    ys = torch.arange(height, device=boxes.device, dtype=torch.float32)
    gauss_x = torch.exp(-(xs - cell_x[..., None]) ** 2 / (2 * sigma[..., 0, None] ** 2))  # (B, K, w)
    gauss_y = torch.exp(-(ys - cell_y[..., None]) ** 2 / (2 * sigma[..., 1, None] ** 2))  # (B, K, h)
    gauss = gauss_y[..., :, None] * gauss_x[..., None, :] * valid[..., None, None]  # (B, K, h, w)
    one_hot = F.one_hot(boxes[..., 0].long().clamp(min=0), classes).float() * valid[..., None]  # (B, K, classes)
    heatmap = (gauss[:, :, None] * one_hot[..., None, None]).amax(dim=1) if boxes.shape[1] else \
        boxes.new_zeros((len(boxes), classes, height, width))
    return CentreTargets(heatmap=heatmap, valid=valid, cell=(cell_y * width + cell_x).long(), size=size,
                         offset=torch.stack([centre_x - cell_x, centre_y - cell_y], -1))


def decode(output: torch.Tensor, input_size: tuple[int, int], top_k: int = 100, threshold: float = 0.05
           ) -> list[torch.Tensor]:
    """Boxes from a detection head's output: per image, rows [class, score, x1, y1, x2, y2] in input pixels.

    A peak is a heatmap cell no lower than its 3x3 neighbourhood (a max-pool replaces non-maximum
    suppression); the ``top_k`` highest peaks over all classes are kept when their score (sigmoid of the
    logit) is at least ``threshold``, highest first. A box is its cell plus the predicted offset, times
    the stride, with the predicted width and height.
    """
    classes = output.shape[1] - BOX_CHANNELS
    batch, height, width = output.shape[0], output.shape[-2], output.shape[-1]
    stride_y, stride_x = strides(output, input_size)
    output = output.detach().float()
    heat = output[:, :classes].sigmoid()
    peaks = heat * (F.max_pool2d(heat, 3, stride=1, padding=1) == heat)
    scores, index = peaks.reshape(batch, -1).topk(min(top_k, classes * height * width), dim=1)
    cell = index % (height * width)
    boxes = output[:, classes:].reshape(batch, BOX_CHANNELS, -1).gather(
        2, cell[:, None].expand(-1, BOX_CHANNELS, -1))  # (B, 4, top_k)
    centre_x = (cell % width + boxes[:, 2]) * stride_x
    centre_y = (cell // width + boxes[:, 3]) * stride_y
    half_w, half_h = boxes[:, 0] * stride_x / 2, boxes[:, 1] * stride_y / 2
    rows = torch.stack([(index // (height * width)).float(), scores, centre_x - half_w, centre_y - half_h,
                        centre_x + half_w, centre_y + half_h], dim=-1)  # (B, top_k, 6)
    return [image[image[:, 1] >= threshold] for image in rows]
