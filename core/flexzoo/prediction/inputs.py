"""Model inputs from files and JSON values, checked against the artifact's ``input_shape`` (torch-free).

Accepted: image files (see :mod:`flexzoo.inputs.images`; a recorded ``card["preprocessing"]`` is then applied:
its resize rule, interpolation and per-channel ``mean``/``std``), folders of images, ``.npy`` (one sample
or a batch), ``.npz`` (each array one sample or a batch), and ``.json`` (a sample or a list of samples, as
nested lists, or ``{"inputs": ...}``). Arrays and JSON are taken as model-ready: no preprocessing is
applied to them. Each sample keeps its name and, for an image, how the input maps back onto the image
(boxes are answered in the image's own pixels).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from flexzoo.errors import FlexzooError
from flexzoo.inputs.images import IMAGE_SUFFIXES, ImageGeometry, image_geometry, prepare_image

__all__ = ["InputError", "Sample", "as_batch", "image_input", "read_inputs"]


class Sample(NamedTuple):
    """One model-ready sample, named for where it came from; ``geometry`` when it was made from an image."""

    name: str
    array: np.ndarray
    geometry: ImageGeometry | None = None


class InputError(FlexzooError):
    """An input cannot be read, or does not fit the model's input shape or dtype."""


def as_batch(value: Any, input_shape: Sequence[int], where: str = "input") -> np.ndarray:
    """A float32 batch ``[N, *input_shape]`` from one sample or a batch of samples (arrays or nested lists)."""
    try:
        array = np.asarray(value)
    except (ValueError, TypeError) as exc:
        raise InputError(f"{where}: not a rectangular array of numbers ({exc})") from None
    if array.dtype == object or not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_):
        raise InputError(f"{where}: expected numbers, got values of type {array.dtype}; send arrays of "
                         f"shape {list(input_shape)} (one sample) or [N, {', '.join(map(str, input_shape))}]")
    shape = tuple(input_shape)
    if array.shape == shape:
        array = array[None]
    elif array.shape[1:] != shape or array.shape[0] == 0:
        raise InputError(f"{where}: expected shape {list(shape)} (one sample) or [N, "
                         f"{', '.join(map(str, shape))}] (a batch), got {list(array.shape)}")
    array = array.astype(np.float32)
    if not np.isfinite(array).all():
        raise InputError(f"{where}: the input holds NaN or infinite values")
    return array


def image_input(source: str | Path | bytes, input_shape: Sequence[int], preprocessing: dict[str, Any] | None,
                name: str) -> Sample:
    """One image as a model-ready sample, with how the input maps back onto the image."""
    try:
        pixels = prepare_image(source, tuple(input_shape), preprocessing, name)
        return Sample(name, pixels, image_geometry(source, tuple(input_shape), preprocessing, name))
    except FlexzooError as exc:
        raise InputError(str(exc)) from None


def _array_file(path: Path, input_shape: Sequence[int]) -> list[Sample]:
    try:
        if path.suffix == ".npy":
            arrays = {"": np.load(path, allow_pickle=False)}
        else:
            with np.load(path, allow_pickle=False) as archive:
                arrays = {name: archive[name] for name in archive.files}
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: cannot read the array file ({exc})") from None
    named = []
    for key, array in arrays.items():
        label = f"{path}:{key}" if key else str(path)
        batch = as_batch(array, input_shape, label)
        named += [Sample(f"{label}[{i}]" if len(batch) > 1 else label, sample) for i, sample in enumerate(batch)]
    return named


def _json_file(path: Path, input_shape: Sequence[int]) -> list[Sample]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: cannot read JSON ({exc})") from None
    if isinstance(value, dict):
        if "inputs" not in value:
            raise InputError(f"{path}: a JSON object needs the key `inputs` (a sample or a list of samples)")
        value = value["inputs"]
    batch = as_batch(value, input_shape, str(path))
    return [Sample(f"{path}[{i}]" if len(batch) > 1 else str(path), sample) for i, sample in enumerate(batch)]


def _one(path: Path, input_shape: Sequence[int], preprocessing: dict[str, Any] | None) -> list[Sample]:
    suffix = path.suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        return [image_input(path, input_shape, preprocessing, str(path))]
    if suffix in (".npy", ".npz"):
        return _array_file(path, input_shape)
    if suffix == ".json":
        return _json_file(path, input_shape)
    raise InputError(f"{path}: unsupported input; give image files ({', '.join(IMAGE_SUFFIXES)}), a folder of "
                     "them, .npy, .npz or .json")


def read_inputs(paths: Sequence[str | Path], input_shape: Sequence[int],
                preprocessing: dict[str, Any] | None = None) -> list[Sample]:
    """Every sample the paths hold, each named for where it came from; a folder gives its images, sorted."""
    samples: list[Sample] = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
            if not files:
                raise InputError(f"{path}: the folder holds no images ({', '.join(IMAGE_SUFFIXES)})")
            for file in files:
                samples += _one(file, input_shape, preprocessing)
        elif path.is_file():
            samples += _one(path, input_shape, preprocessing)
        else:
            raise InputError(f"{path}: no such file or folder")
    return samples
