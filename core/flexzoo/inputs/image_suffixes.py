"""The file suffixes flexzoo reads as images (torch-free, numpy-free: listing and plugins use it)."""

from __future__ import annotations

__all__ = ["IMAGE_SUFFIXES"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
