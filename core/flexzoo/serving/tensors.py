"""Open Inference Protocol tensors: typed JSON data and Triton's binary tensor data extension.

A request tensor is ``{"name", "shape", "datatype", "data"}``; ``data`` is row-major, flat or nested.
With the binary extension (what ``tritonclient`` sends by default) the body is the JSON header, whose
length is the ``Inference-Header-Content-Length`` header, followed by each tensor whose parameters give
``binary_data_size``, in order: fixed-size types little-endian, ``BYTES`` as 4-byte lengths then bytes.
"""

from __future__ import annotations

import base64
import binascii
import math
import struct
from typing import Any

import numpy as np

from flexzoo.serving.requests import Problem, json_text

__all__ = ["DATATYPES", "Tensor", "datatype_of", "decode_bytes", "encode_output", "split_binary", "tensor_data"]

DATATYPES: dict[str, np.dtype] = {
    "BOOL": np.dtype("bool"), "UINT8": np.dtype("<u1"), "UINT16": np.dtype("<u2"), "UINT32": np.dtype("<u4"),
    "UINT64": np.dtype("<u8"), "INT8": np.dtype("<i1"), "INT16": np.dtype("<i2"), "INT32": np.dtype("<i4"),
    "INT64": np.dtype("<i8"), "FP16": np.dtype("<f2"), "FP32": np.dtype("<f4"), "FP64": np.dtype("<f8")}
Tensor = dict[str, Any]


def datatype_of(array: np.ndarray) -> str:
    """The protocol's name for ``array``'s dtype."""
    for name, dtype in DATATYPES.items():
        if array.dtype == dtype or array.dtype == dtype.newbyteorder("="):
            return name
    raise ValueError(f"no Open Inference Protocol datatype for {array.dtype}")


def split_binary(body: bytes, header_length: str | None) -> tuple[bytes, bytes]:
    """The JSON header and the binary tail of a request body (all header without the extension)."""
    if header_length is None:
        return body, b""
    if not header_length.isdigit() or int(header_length) > len(body):
        raise Problem(400, f"Inference-Header-Content-Length {json_text(header_length)} is not a length within "
                           f"the body of {len(body):,} bytes")
    return body[:int(header_length)], body[int(header_length):]


def _shape(tensor: Tensor, where: str) -> list[int]:
    shape = tensor.get("shape")
    if not isinstance(shape, list) or not all(isinstance(s, (int, float)) and not isinstance(s, bool) and s >= 0
                                              and float(s).is_integer() for s in shape):
        raise Problem(400, f"{where}: `shape` must be a list of non-negative integers, got {json_text(shape)}")
    return [int(s) for s in shape]  # JSON's 3.0 is the integer 3


def _flatten(data: Any, depth: int, where: str) -> list[Any]:
    """``data`` (flat or nested at most ``depth`` lists deep) as one flat list."""
    if not isinstance(data, list):
        raise Problem(400, f"{where}: `data` must be a list, got {json_text(data)}")
    flat: list[Any] = []
    stack = [(iter(data), 1)]
    while stack:
        items, level = stack[-1]
        for item in items:
            if isinstance(item, list):
                if level >= max(depth, 1):
                    raise Problem(422, f"{where}: `data` is nested deeper than its shape")
                stack.append((iter(item), level + 1))
                break
            flat.append(item)
        else:
            stack.pop()
    return flat


def tensor_data(tensor: Tensor, binary: bytes | None, where: str) -> np.ndarray:
    """A numeric request tensor as an array of its shape (its values as sent, in its datatype)."""
    shape = _shape(tensor, where)
    datatype = tensor.get("datatype")
    count = math.prod(shape)
    if not isinstance(datatype, str) or datatype not in DATATYPES:
        known = ", ".join(DATATYPES)
        raise Problem(422, f"{where}: datatype {json_text(datatype)} is not a number type this input takes "
                           f"({known})")
    dtype = DATATYPES[datatype]
    if binary is not None:
        if len(binary) != count * dtype.itemsize:
            raise Problem(422, f"{where}: {len(binary):,} bytes of binary data for shape {shape} of {datatype} "
                               f"({count * dtype.itemsize:,} expected)")
        return np.frombuffer(binary, dtype=dtype).reshape(shape)
    values = _flatten(tensor.get("data"), len(shape), where)
    if len(values) != count:
        raise Problem(422, f"{where}: `data` holds {len(values):,} values, shape {shape} needs {count:,}")
    wanted = bool if datatype == "BOOL" else (float, int) if datatype.startswith("FP") else int
    if not all(isinstance(v, wanted) and (datatype == "BOOL" or not isinstance(v, bool)) for v in values):
        kind = "true/false" if datatype == "BOOL" else "numbers" if datatype.startswith("FP") else "integers"
        raise Problem(422, f"{where}: the data of a {datatype} tensor must be {kind}")
    try:
        return np.array(values, dtype=np.float64 if datatype.startswith("FP") else dtype).reshape(shape)
    except OverflowError:
        raise Problem(422, f"{where}: a value is out of the range of {datatype}") from None


def decode_bytes(tensor: Tensor, binary: bytes | None, where: str) -> list[bytes]:
    """A ``BYTES`` tensor's elements: base64 strings in JSON, length-prefixed in binary data."""
    shape = _shape(tensor, where)
    count = math.prod(shape)
    if binary is None:
        values = _flatten(tensor.get("data"), len(shape), where)
        if len(values) != count or not all(isinstance(v, str) for v in values):
            raise Problem(422, f"{where}: a BYTES tensor of shape {shape} needs {count} base64 strings in `data`")
        try:
            return [base64.b64decode(v, validate=True) for v in values]
        except (binascii.Error, ValueError):
            raise Problem(422, f"{where}: an element of `data` is not base64 (BYTES elements in JSON are "
                               "base64-encoded)") from None
    elements, offset = [], 0
    while offset < len(binary):
        if offset + 4 > len(binary):
            raise Problem(422, f"{where}: the binary BYTES data ends inside an element's length")
        (size,) = struct.unpack_from("<I", binary, offset)
        elements.append(binary[offset + 4:offset + 4 + size])
        offset += 4 + size
        if offset > len(binary):
            raise Problem(422, f"{where}: the binary BYTES data ends inside an element")
    if len(elements) != count:
        raise Problem(422, f"{where}: {len(elements)} BYTES elements for shape {shape}")
    return elements


def encode_output(name: str, array: np.ndarray, binary: bool) -> tuple[Tensor, bytes]:
    """An output tensor's JSON and, when ``binary``, its raw bytes (the JSON then says their size)."""
    array = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<"))
    tensor: Tensor = {"name": name, "datatype": datatype_of(array), "shape": list(array.shape)}
    if binary:
        raw = array.tobytes()
        tensor["parameters"] = {"binary_data_size": len(raw)}
        return tensor, raw
    tensor["data"] = array.reshape(-1).tolist()
    return tensor, b""
