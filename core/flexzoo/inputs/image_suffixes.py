"""The file suffixes flexzoo reads as images (torch-free, numpy-free: listing and plugins use it)."""

from __future__ import annotations

__all__ = ["IMAGE_SUFFIXES"]

#: The file suffixes the host reads as images (training folders, `zoo predict`, `zoo serve`).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
