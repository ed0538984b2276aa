"""Turning an image file into a model input: one rule shared by training, ``zoo predict`` and ``zoo serve``.

An image is decoded with Pillow, converted to the input's channel count (1: grayscale "L", 3: "RGB",
4: "RGBA"), resized bilinearly to the input's height and width, laid out channels-first and scaled to
[0, 1]. Torch-free (numpy and Pillow only).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from flexzoo.errors import FlexzooError

__all__ = ["IMAGE_SUFFIXES", "ImageError", "decode_image"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
_MODES = {1: "L", 3: "RGB", 4: "RGBA"}


class ImageError(FlexzooError):
    """An image cannot be decoded, or the model's input is not an image."""


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
        raise ImageError(f"{name}: cannot decode the image ({type(exc).__name__}: {exc})") from None
    return pixels.reshape(height, width, channels).transpose(2, 0, 1) / 255.0
