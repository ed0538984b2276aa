"""Writing safetensors files whose tensors start on 64-byte boundaries, so loads from the mapped file are exact.

A loaded artifact's tensors are views into the memory-mapped file (:mod:`flexzoo.artifact.load`). CPU
kernels (oneDNN, MKL) take other paths for weights that are not 64-byte aligned, and a model whose weights
sit at another alignment than the built model's can answer differently in the last bit. The file is a
plain safetensors file (any reader reads it); it is laid out so that no view is misaligned where it can be
avoided: the header is padded with spaces (which the format allows) so that the data starts on a 64-byte
boundary, the tensors whose sizes are multiples of 64 bytes come first, and the others after them. A
tensor that still lands off a boundary is copied when it is loaded.

Values that are only known once the tensors are written (their digests, hashed in threads while the
bytes go to the file) are laid out as placeholders of the same length, and the header is written again
over them, byte for byte the same size.
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Callable
from pathlib import Path

import torch

__all__ = ["ALIGNMENT", "save_aligned"]

#: The boundary tensors start on: a cache line, and the widest vector load (AVX-512) CPU kernels use.
ALIGNMENT = 64


def save_aligned(tensors: dict[str, torch.Tensor], path: str | Path, metadata: dict[str, str],
                 dtypes: dict[torch.dtype, str], finish: Callable[[], dict[str, str]] | None = None) -> None:
    """Write ``tensors`` (contiguous CPU tensors) and ``metadata`` to ``path`` as a safetensors file.

    :param dtypes: each torch dtype's safetensors code (``F32``...).
    :param finish: called once the tensors are written and flushed to the disk (so that a caller's fsync has
        only the header left); what it returns replaces the values of ``metadata`` under the same keys, which
        held placeholders of the same length, and the header is written again (a ValueError if it no longer
        fits the space the placeholders took).
    """
    order = sorted(tensors, key=lambda name: (_nbytes(tensors[name]) % ALIGNMENT != 0, name))
    entries: dict[str, object] = {}
    offset = 0
    for name in order:
        tensor = tensors[name]
        entries[name] = {"dtype": dtypes[tensor.dtype], "shape": list(tensor.shape),
                         "data_offsets": [offset, offset + _nbytes(tensor)]}
        offset += _nbytes(tensor)
    text = _header(metadata, entries)
    with open(path, "wb") as file:
        file.write(struct.pack("<Q", len(text)))
        file.write(text)
        for name in order:
            tensor = tensors[name]
            if tensor.numel():
                file.write(tensor.contiguous().reshape(-1).view(torch.uint8).numpy().data)
        if finish is not None:
            file.flush()
            _fdatasync(file.fileno())  # the tensors go to the disk while ``finish`` completes (digests in threads)
            final = _header({**metadata, **finish()}, entries)
            if len(final) != len(text):
                raise ValueError("the values given once the tensors were written do not fit the header laid out "
                                 "with their placeholders")
            file.seek(8)
            file.write(final)


def _header(metadata: dict[str, str], entries: dict[str, object]) -> bytes:
    """The JSON header, padded with spaces so that the data starts on a boundary."""
    text = json.dumps({"__metadata__": metadata, **entries}, separators=(",", ":")).encode()
    return text + b" " * (-(8 + len(text)) % ALIGNMENT)


#: Flushes a file's data without its metadata where the system can (not on macOS).
_fdatasync = getattr(os, "fdatasync", os.fsync)


def _nbytes(tensor: torch.Tensor) -> int:
    return tensor.numel() * tensor.element_size()
