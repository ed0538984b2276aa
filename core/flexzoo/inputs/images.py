"""Turning an image file into a model input: one rule shared by training, ``zoo predict`` and ``zoo serve``.

An image is decoded with Pillow, converted to the input's channel count (1: grayscale "L", 3: "RGB",
4: "RGBA"), resized to the input's height and width, laid out channels-first and scaled to [0, 1].
Without a record that is a bilinear stretch; with the preprocessing a trained artifact records
(``card["preprocessing"]``: ``resize`` "stretch" or "keep_aspect" + center crop, ``interpolation``,
``mean``/``std``), :func:`prepare_image` applies it, and training's deterministic transform calls the same
:func:`resize_image`. :func:`image_geometry` maps a point of the model input back to the image it was made
of (a detection head's boxes, answered in the image's own pixels). Torch-free (numpy and Pillow only).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from flexzoo.errors import FlexzooError
from flexzoo.inputs.image_suffixes import IMAGE_SUFFIXES

__all__ = ["IMAGE_SUFFIXES", "ImageError", "ImageGeometry", "decode_image", "image_geometry", "prepare_image",
           "resize_image"]

_MODES = {1: "L", 3: "RGB", 4: "RGBA"}


def _undecodable(name: str, exc: Exception) -> ImageError:
    """The error for an image Pillow cannot read; Pillow names an in-memory file by its repr, so say it plainly."""
    reason = str(exc)
    if type(exc).__name__ == "UnidentifiedImageError":
        reason = "not an image format Pillow can read"
    return ImageError(f"{name}: cannot decode the image ({type(exc).__name__}: {reason})")
_RESAMPLE = {"bilinear": 2, "bicubic": 3, "nearest": 0}  # PIL.Image.Resampling values


class ImageError(FlexzooError):
    """An image cannot be decoded, or the model's input is not an image."""


@dataclass(frozen=True)
class ImageGeometry:
    """Where a model input's pixels lie in the image it was made of: ``image = (input + offset) * scale``."""

    scale_x: float
    scale_y: float
    left: float = 0.0  # the crop's offset in the resized image (keep_aspect), in resized pixels
    top: float = 0.0

    def to_image(self, x: float, y: float) -> tuple[float, float]:
        """A point of the model input, in the image's pixels."""
        return (x + self.left) * self.scale_x, (y + self.top) * self.scale_y


def _fitted(old_width: int, old_height: int, height: int, width: int) -> tuple[tuple[int, int], int, int]:
    """keep_aspect: the resized size (width, height), and the crop's left and top, for an input of height x width."""
    target = max(height, width)
    if old_width <= old_height:
        size = (target, int(target * old_height / old_width))
    else:
        size = (int(target * old_width / old_height), target)
    return size, round((size[0] - width) / 2.0), round((size[1] - height) / 2.0)


def decode_image(source: str | Path | bytes, input_shape: tuple[int, ...] | list[int], name: str = "image"
                 ) -> np.ndarray:
    """The float32 array of shape ``input_shape`` (channels, height, width) for an image file or its bytes."""
    from PIL import Image, UnidentifiedImageError

    if len(input_shape) != 3 or input_shape[0] not in _MODES:
        raise ImageError(f"{name}: the model's input shape {list(input_shape)} is not an image "
                         "([channels, height, width] with 1, 3 or 4 channels); send arrays instead")
    channels, height, width = input_shape
    try:
        with Image.open(io.BytesIO(source) if isinstance(source, bytes) else source) as image:
            pixels = np.asarray(image.convert(_MODES[channels]).resize((width, height), Image.BILINEAR),
                                dtype=np.float32)
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise _undecodable(name, exc) from None
    return pixels.reshape(height, width, channels).transpose(2, 0, 1) / 255.0


def resize_image(image: Any, height: int, width: int, resize: str = "stretch", interpolation: str = "bilinear"
                 ) -> Any:
    """A PIL image at ``height`` x ``width``: stretched, or (``keep_aspect``) its shorter side scaled to
    ``max(height, width)`` and the middle cut out."""
    resample = _RESAMPLE[interpolation]
    if resize != "keep_aspect":
        return image.resize((width, height), resample)
    size, left, top = _fitted(*image.size, height, width)
    return image.resize(size, resample).crop((left, top, left + width, top + height))


def image_geometry(source: str | Path | bytes, input_shape: tuple[int, ...] | list[int],
                   preprocessing: dict[str, Any] | None, name: str = "image") -> ImageGeometry:
    """How the model input :func:`prepare_image` makes of ``source`` maps back onto it (reads the header only)."""
    from PIL import Image, UnidentifiedImageError

    height, width = input_shape[-2], input_shape[-1]
    try:
        with Image.open(io.BytesIO(source) if isinstance(source, bytes) else source) as image:
            old_width, old_height = image.size
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise _undecodable(name, exc) from None
    if (preprocessing or {}).get("resize") != "keep_aspect":
        return ImageGeometry(old_width / width, old_height / height)
    size, left, top = _fitted(old_width, old_height, height, width)
    return ImageGeometry(old_width / size[0], old_height / size[1], left, top)


def prepare_image(source: str | Path | bytes, input_shape: tuple[int, ...] | list[int],
                  preprocessing: dict[str, Any] | None, name: str = "image") -> np.ndarray:
    """The model input for an image under an artifact's recorded ``preprocessing`` (None: :func:`decode_image`)."""
    if not preprocessing or "resize" not in preprocessing:
        pixels = decode_image(source, input_shape, name)
    else:
        pixels = _decode(source, input_shape, name, preprocessing["resize"], preprocessing.get("interpolation",
                                                                                                "bilinear"))
    if preprocessing and preprocessing.get("mean") is not None:
        shape = (-1, 1, 1)
        mean = np.asarray(preprocessing["mean"], dtype=np.float32).reshape(shape)
        std = np.asarray(preprocessing.get("std") or 1.0, dtype=np.float32).reshape(shape)
        pixels = (pixels - mean) / std
    return pixels


def _decode(source: str | Path | bytes, input_shape: tuple[int, ...] | list[int], name: str, resize: str,
            interpolation: str) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    if len(input_shape) != 3 or input_shape[0] not in _MODES:
        raise ImageError(f"{name}: the model's input shape {list(input_shape)} is not an image "
                         "([channels, height, width] with 1, 3 or 4 channels); send arrays instead")
    channels, height, width = input_shape
    try:
        with Image.open(io.BytesIO(source) if isinstance(source, bytes) else source) as image:
            image = resize_image(image.convert(_MODES[channels]), height, width, resize, interpolation)
            pixels = np.asarray(image, dtype=np.uint8)
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise _undecodable(name, exc) from None
    return pixels.reshape(height, width, channels).transpose(2, 0, 1).astype(np.float32) / 255.0
