"""Image transforms from ``[train.preprocess]`` and ``[train.augment]`` (torchvision transforms v2).

Evaluation, and every pass over the validation split, uses the deterministic transform: resize
(stretched, or keeping the aspect ratio and center-cropped), scale to [0, 1], normalize. Training
adds the ``[train.augment]`` transforms. The preprocessing is a plain dict that the artifact records
(``card["preprocessing"]``) and that :func:`eval_transform` turns back into the transform, so
anything that runs the artifact prepares its inputs the way training did.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import torch

from flexzoo.inputs.images import resize_image

__all__ = ["batch_mixer", "eval_transform", "train_transform"]


def _interpolation(name: str) -> Any:
    from torchvision.transforms import InterpolationMode

    return {"bilinear": InterpolationMode.BILINEAR, "bicubic": InterpolationMode.BICUBIC,
            "nearest": InterpolationMode.NEAREST}[name]


class ToInput:
    """uint8 image tensor -> float32 scaled to [0, 1] and normalized: the values of ``/ 255`` and
    ``v2.Normalize``, computed in place on one new tensor (their intermediate copies cost a fifth of a
    loader's time per image)."""

    def __init__(self, mean: list[float] | None, std: list[float] | None) -> None:
        self.mean = None if mean is None else torch.tensor(mean, dtype=torch.float32).view(-1, 1, 1)
        self.std = None if std is None else torch.tensor(std, dtype=torch.float32).view(-1, 1, 1)

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        inputs = image.to(torch.float32).div_(255.0)
        if self.mean is not None:
            inputs.sub_(self.mean).div_(self.std)
        return inputs


def _resize(preprocessing: dict[str, Any]) -> list[Any]:
    _, height, width = preprocessing["input_size"]
    # the rule prediction and serving apply (flexzoo.inputs.images), so a served image is prepared bit for bit alike
    return [partial(resize_image, height=height, width=width, resize=preprocessing["resize"],
                    interpolation=preprocessing["interpolation"])]


def _tail(preprocessing: dict[str, Any]) -> list[Any]:
    from torchvision.transforms import v2

    mean = preprocessing.get("mean")
    return [v2.PILToTensor(), ToInput(mean, preprocessing["std"] if mean is not None else None)]


def eval_transform(preprocessing: dict[str, Any]) -> Callable[[Any], torch.Tensor]:
    """PIL image -> input tensor, deterministic: what validation, prediction and serving apply."""
    from torchvision.transforms import v2

    return v2.Compose([*_resize(preprocessing), *_tail(preprocessing)])


def train_transform(preprocessing: dict[str, Any], augment: dict[str, Any]) -> Callable[[Any], torch.Tensor]:
    """PIL image -> input tensor with the ``[train.augment]`` transforms (random: seed before calling)."""
    from torchvision.transforms import v2

    _, height, width = preprocessing["input_size"]
    interpolation = _interpolation(preprocessing["interpolation"])
    steps: list[Any] = []
    if augment.get("crop_scale"):
        steps.append(v2.RandomResizedCrop((height, width), scale=tuple(augment["crop_scale"]),
                                          interpolation=interpolation))
    else:
        steps += _resize(preprocessing)
    if augment.get("hflip"):
        steps.append(v2.RandomHorizontalFlip(augment["hflip"]))
    if augment.get("vflip"):
        steps.append(v2.RandomVerticalFlip(augment["vflip"]))
    if augment.get("rotation"):
        steps.append(v2.RandomRotation(augment["rotation"], interpolation=interpolation))
    if augment.get("color_jitter"):
        jitter = augment["color_jitter"]
        steps.append(v2.ColorJitter(brightness=jitter, contrast=jitter, saturation=jitter))
    if augment.get("auto_augment") == "randaugment":
        steps.append(v2.RandAugment(interpolation=interpolation))
    elif augment.get("auto_augment") == "trivialaugment":
        steps.append(v2.TrivialAugmentWide(interpolation=interpolation))
    return v2.Compose([*steps, *_tail(preprocessing)])


def batch_mixer(augment: dict[str, Any], classes: int) -> Callable[[torch.Tensor, torch.Tensor], Any] | None:
    """Mixup and/or CutMix on a batch (one chosen at random per batch), or None when both are off."""
    from torchvision.transforms import v2

    mixers = []
    if augment.get("mixup"):
        mixers.append(v2.MixUp(alpha=augment["mixup"], num_classes=classes))
    if augment.get("cutmix"):
        mixers.append(v2.CutMix(alpha=augment["cutmix"], num_classes=classes))
    if not mixers:
        return None
    return mixers[0] if len(mixers) == 1 else v2.RandomChoice(mixers)
