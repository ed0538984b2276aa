"""Writing safetensors files whose tensors start on 64-byte boundaries, so loads from the mapped file are exact.

A loaded artifact's tensors are views into the memory-mapped file (:mod:`flexzoo.artifact.load`). CPU
kernels (oneDNN, MKL) take other paths for weights that are not 64-byte aligned, and a model whose weights
sit at another alignment than the built model's can answer differently in the last bit. The file is a
plain safetensors file (any reader reads it); it is laid out so that no view is misaligned where it can be
avoided: the header is padded with spaces (which the format allows) so that the data starts on a 64-byte
boundary, the tensors whose sizes are multiples of 64 bytes come first, and the others after them. A
tensor that still lands off a boundary is copied when it is loaded.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import torch

__all__ = ["ALIGNMENT", "save_aligned"]

#: The boundary tensors start on: a cache line, and the widest vector load (AVX-512) CPU kernels use.
ALIGNMENT = 64


def save_aligned(tensors: dict[str, torch.Tensor], path: str | Path, metadata: dict[str, str],
                 dtypes: dict[torch.dtype, str]) -> None:
    """Write ``tensors`` (contiguous CPU tensors) and ``metadata`` to ``path`` as a safetensors file.

    :param dtypes: each torch dtype's safetensors code (``F32``...).
    """
    order = sorted(tensors, key=lambda name: (_nbytes(tensors[name]) % ALIGNMENT != 0, name))
    header: dict[str, object] = {"__metadata__": metadata}
    offset = 0
    for name in order:
        tensor = tensors[name]
        header[name] = {"dtype": dtypes[tensor.dtype], "shape": list(tensor.shape),
                        "data_offsets": [offset, offset + _nbytes(tensor)]}
        offset += _nbytes(tensor)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-(8 + len(text)) % ALIGNMENT)
    with open(path, "wb") as file:
        file.write(struct.pack("<Q", len(text)))
        file.write(text)
        for name in order:
            tensor = tensors[name]
            if tensor.numel():
                file.write(tensor.contiguous().reshape(-1).view(torch.uint8).numpy().data)


def _nbytes(tensor: torch.Tensor) -> int:
    return tensor.numel() * tensor.element_size()
