"""The arrays of a .npz or .safetensors file, memory-mapped where the format allows.

A memory-mapped array is backed by the file's pages: reading a batch reads those pages through the
page cache, which the kernel can drop again, so an array larger than memory costs no memory of the
process's own. What is mapped:

- .safetensors: every tensor of a numeric dtype numpy has (F64, F32, F16, I8-I64, U8-U64, BOOL);
  a file holding BF16 or F8 tensors is refused (numpy has no such dtype).
- .npz: every member stored uncompressed (``numpy.savez``); a member compressed by
  ``numpy.savez_compressed`` cannot be mapped and is read into memory, as is a Fortran-ordered one.

Arrays are mapped copy-on-write (``mode="c"``): tensors made from them are writable, and nothing
ever writes to the file.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

from flexzoo.plugin import DataError

__all__ = ["read_arrays"]

SAFETENSORS_DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "i1",
                      "U64": "<u8", "U32": "<u4", "U16": "<u2", "U8": "u1", "BOOL": "?"}
ZIP_LOCAL_HEADER = 30  # bytes before a member's file name in its local header
MAX_SAFETENSORS_HEADER = 100 * 1024 * 1024


def _mapped(path: Path, dtype: Any, shape: tuple[int, ...], offset: int, order: str = "C") -> Any:
    import numpy as np

    if int(np.prod(shape)) == 0:  # mmap cannot map zero bytes
        return np.zeros(shape, dtype=dtype, order=order)
    return np.memmap(path, dtype=dtype, mode="c", offset=offset, shape=shape, order=order)


def _npz_member(path: Path, archive: zipfile.ZipFile, stream: Any, info: zipfile.ZipInfo) -> Any:
    """One member: mapped at its offset when stored uncompressed in C order, else read into memory."""
    import numpy as np

    if info.compress_type == zipfile.ZIP_STORED:
        stream.seek(info.header_offset + 26)
        name_length, extra_length = (int.from_bytes(stream.read(2), "little") for _ in range(2))
        stream.seek(info.header_offset + ZIP_LOCAL_HEADER + name_length + extra_length)
        version = np.lib.format.read_magic(stream)
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else \
            np.lib.format.read_array_header_2_0
        shape, fortran_order, dtype = read_header(stream)
        if dtype.hasobject:
            raise ValueError(f"member `{info.filename}` holds Python objects, which are never unpickled")
        if not fortran_order:
            return _mapped(path, dtype, shape, stream.tell())
    with archive.open(info) as member:
        return np.lib.format.read_array(member, allow_pickle=False)


def _npz(path: Path) -> dict[str, Any]:
    with zipfile.ZipFile(path) as archive, path.open("rb") as stream:
        return {info.filename.removesuffix(".npy"): _npz_member(path, archive, stream, info)
                for info in archive.infolist()}


def _safetensors(path: Path) -> dict[str, Any]:
    import numpy as np

    with path.open("rb") as stream:
        size = int.from_bytes(stream.read(8), "little")
        if not 0 < size <= MAX_SAFETENSORS_HEADER:
            raise ValueError("not a safetensors file (its header length is out of range)")
        header = json.loads(stream.read(size))
    header.pop("__metadata__", None)
    start, file_size, found = 8 + size, path.stat().st_size, {}
    for name, entry in header.items():
        dtype = SAFETENSORS_DTYPES.get(entry["dtype"])
        if dtype is None:
            raise ValueError(f"tensor `{name}` is {entry['dtype']}, which numpy cannot hold; store it as F32 or F16")
        shape, (begin, end) = tuple(entry["shape"]), entry["data_offsets"]
        if end - begin != int(np.prod(shape)) * np.dtype(dtype).itemsize or start + end > file_size:
            raise ValueError(f"tensor `{name}`: its offsets do not match its shape {list(shape)} (a truncated file?)")
        found[name] = _mapped(path, dtype, shape, start + begin)
    return found


def read_arrays(path: Path) -> dict[str, Any]:
    """The named arrays of a .npz or .safetensors file, memory-mapped where the format allows."""
    try:
        return _npz(path) if path.suffix == ".npz" else _safetensors(path)
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as exc:
        raise DataError(f"cannot read `{path}`: {exc}") from None
