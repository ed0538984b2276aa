"""Array data indexed in place (the fast path): its digest, its NaN check and its tensor, none copying it whole.

The arrays may be memory-mapped files (.npz, .safetensors): everything here reads them a part at a time.
"""

from __future__ import annotations

import hashlib

import numpy as np
import torch

from flexzoo.errors import DataError

__all__ = ["arrays_digest", "as_tensor", "fit_inputs", "non_finite_samples"]

CHECK_BYTES = 64 * 1024 * 1024  # inputs checked for NaN at a time (a memory-mapped file is never copied whole)
INDEXED_DTYPES = {np.dtype(name) for name in ("float32", "float64", "float16", "uint8", "int8", "int16", "int32",
                                               "int64", "bool")}


def arrays_digest(arrays: dict[str, np.ndarray], validation: np.ndarray) -> str:
    """The arrays' names, types, shapes and bytes, and the split: read in place, never copied whole."""
    digest = hashlib.sha256()
    for name in sorted(arrays):
        array = np.ascontiguousarray(arrays[name])
        digest.update(f"{name}\0{array.dtype.str}\0{array.shape}\0".encode())
        digest.update(array.reshape(-1).view(np.uint8))
    digest.update(np.sort(validation).astype(np.int64).tobytes())
    return digest.hexdigest()


def non_finite_samples(inputs: np.ndarray) -> np.ndarray:
    """The samples whose floating-point inputs hold NaN or infinity, checked CHECK_BYTES at a time."""
    if not np.issubdtype(inputs.dtype, np.floating) or not len(inputs):
        return np.empty(0, dtype=np.int64)
    rows, bad = max(1, CHECK_BYTES // max(1, inputs[:1].nbytes)), []
    for start in range(0, len(inputs), rows):
        part = inputs[start:start + rows]
        bad.append(start + np.flatnonzero(~np.isfinite(part.reshape(len(part), -1)).all(axis=1)))
    return np.concatenate(bad)


def as_tensor(inputs: np.ndarray) -> torch.Tensor:
    """The inputs as a tensor over the same memory (a memory-mapped file stays mapped); batches become float32
    when they are taken. Types torch does not index are converted to float32 here."""
    if inputs.dtype in INDEXED_DTYPES and inputs.flags.c_contiguous:
        return torch.from_numpy(inputs)
    return torch.from_numpy(np.ascontiguousarray(inputs, dtype=np.float32))


def fit_inputs(inputs: np.ndarray, input_shape: tuple[int, ...] | None) -> np.ndarray:
    if input_shape is None or tuple(inputs.shape[1:]) == tuple(input_shape):
        return inputs
    if int(np.prod(inputs.shape[1:])) == int(np.prod(input_shape)):
        return inputs.reshape((len(inputs), *input_shape))
    raise DataError(f"the data's samples have shape {list(inputs.shape[1:])}, which does not fit [model] "
                    f"input_shape = {list(input_shape)}; fix input_shape or the data")
