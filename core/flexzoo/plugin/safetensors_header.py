"""Reading a safetensors file's header and hashing its tensors without importing torch."""

from __future__ import annotations

import hashlib
import json
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flexzoo.errors import ArtifactError

MAX_HEADER_BYTES = 100 * 2**20  # the limit the safetensors format itself sets
_CHUNK = 2**20


@dataclass(frozen=True)
class Header:
    """The tensors (name -> dtype, shape, data_offsets) and string metadata of a safetensors file."""

    tensors: dict[str, dict[str, Any]]
    metadata: dict[str, str]
    data_start: int


def read_header(path: str | Path) -> Header:
    """Parse the header; anything that is not a well-formed safetensors file is an ArtifactError."""
    path = Path(path)
    try:
        with open(path, "rb") as file:
            size = path.stat().st_size
            prefix = file.read(8)
            if len(prefix) < 8:
                raise ArtifactError(f"{path}: not a safetensors file (only {size} bytes)")
            (length,) = struct.unpack("<Q", prefix)
            if length > MAX_HEADER_BYTES or 8 + length > size:
                raise ArtifactError(f"{path}: not a safetensors file (invalid header length)")
            raw = file.read(length)
    except FileNotFoundError:
        raise ArtifactError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ArtifactError(f"{path}: is a directory; give the .safetensors file") from None
    try:
        header = json.loads(raw.decode("utf-8"))
        if not isinstance(header, dict):
            raise ValueError("header is not an object")
    except (UnicodeDecodeError, ValueError):
        raise ArtifactError(f"{path}: not a safetensors file (header is not JSON)") from None
    metadata = header.pop("__metadata__", None) or {}
    data_size = size - 8 - length
    for name, entry in header.items():
        offsets = entry.get("data_offsets") if isinstance(entry, dict) else None
        if not (isinstance(offsets, list) and len(offsets) == 2 and 0 <= offsets[0] <= offsets[1] <= data_size):
            raise ArtifactError(f"{path}: corrupt safetensors file (tensor {name!r} lies outside the file)")
    return Header(tensors=header, metadata=metadata, data_start=8 + length)


def tensor_digest_prefix(name: str, dtype: str, shape: list[int]) -> bytes:
    """What the weights hash mixes in before each tensor's bytes."""
    return f"{name}\0{dtype}\0{','.join(map(str, shape))}\0".encode()


def hash_file_tensors(path: str | Path, header: Header) -> str:
    """sha256 over the tensors in name order: name, dtype, shape, raw little-endian bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for name in sorted(header.tensors):
            entry = header.tensors[name]
            digest.update(tensor_digest_prefix(name, entry["dtype"], entry["shape"]))
            start, end = entry["data_offsets"]
            file.seek(header.data_start + start)
            remaining = end - start
            while remaining:
                chunk = file.read(min(_CHUNK, remaining))
                if not chunk:
                    raise ArtifactError(f"{path}: truncated file")
                digest.update(chunk)
                remaining -= len(chunk)
    return digest.hexdigest()
