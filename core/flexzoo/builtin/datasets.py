"""The builtin data sources, registered through ``flexzoo_datasets`` like any plugin's.

Arrays (digits; .npz and .safetensors files, memory-mapped) are indexed directly: the fast path.
Image folders and tables of file paths list their files when made and decode one image when a
sample is asked for.
Importing this module is cheap: numpy and PIL are imported when a source is made.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flexzoo.plugin import DataError, DataSource
from flexzoo.plugin.helpers import IMAGE_SUFFIXES


def image_mode(input_shape: tuple[int, ...] | None) -> str:
    """PIL's mode for ``[model] input_shape``: "L" for one channel, "RGB" for three."""
    if input_shape is None or len(input_shape) != 3:
        raise DataError("image data needs [model] input_shape = [channels, height, width] to size the images")
    mode = {1: "L", 3: "RGB"}.get(input_shape[0])
    if mode is None:
        raise DataError(f"images give 1 or 3 channels; [model] input_shape asks for {input_shape[0]}")
    return mode


def open_image(file: Path | Any, mode: str) -> Any:
    """Decode one image completely (a truncated file fails here, not later) in ``mode``."""
    from PIL import Image

    with Image.open(file) as image:
        image.load()
        return image.convert(mode)


class Arrays:
    """Arrays in memory or memory-mapped: the inputs (``x``, or one array per input of a model of several)
    and one array per target (the fast path: no DataLoader)."""

    def __init__(self, arrays: dict[str, Any], description: str, inputs: list[str] | None = None) -> None:
        self.input_names = inputs or ["x"]
        count = len(arrays[self.input_names[0]])
        short = [name for name, array in arrays.items() if len(array) != count]
        if short:
            raise DataError(f"every array needs one entry per sample ({count}); {', '.join(short)} differ(s)")
        self.arrays = arrays
        self.description = description
        self.targets = {name: array for name, array in arrays.items() if name not in self.input_names}

    def __len__(self) -> int:
        return len(self.arrays[self.input_names[0]])

    def __getitem__(self, index: int) -> tuple[Any, Mapping[str, Any]]:
        targets = {name: array[index] for name, array in self.targets.items()}
        if self.input_names == ["x"]:
            return self.arrays["x"][index], targets
        return {name: self.arrays[name][index] for name in self.input_names}, targets


def digits() -> DataSource:
    """scikit-learn's digits: 1797 8x8 images, targets `digit` (0-9) and `parity` (0-1), in memory."""
    import numpy as np
    from sklearn.datasets import load_digits

    bunch = load_digits()
    labels = bunch.target.astype(np.int64)
    source = Arrays({"x": (bunch.images / 16.0).astype(np.float32)[:, None], "digit": labels, "parity": labels % 2},
                    "scikit-learn digits (1797 8x8 images)")
    source.labels = {"digit": [str(d) for d in range(10)], "parity": ["even", "odd"]}  # type: ignore[attr-defined]
    return source


def arrays(location: str, inputs: str | list[str] = "x") -> DataSource:
    """Arrays in a .npz or .safetensors file: `inputs` and one array per target, memory-mapped.

    A model of several [inputs] reads one array per input, named as the input (the host sets `inputs`).

    Uncompressed .npz members and safetensors tensors are mapped from the file, not read into memory;
    a compressed .npz member (numpy.savez_compressed) is read into memory.

    Args:
        location: the file (relative to the manifest).
        inputs: name of the input array (the input names, for a model of several inputs).
    """
    from flexzoo.builtin.mapped_arrays import read_arrays

    path = Path(location)
    if not path.is_file():
        raise DataError(f"data file `{path}` does not exist; fix [train] data (relative paths are relative to "
                        "the manifest)")
    found = read_arrays(path)
    if isinstance(inputs, list):
        missing = [name for name in inputs if name not in found]
        if missing:
            raise DataError(f"`{path}` has no array for the input(s) {', '.join(missing)} (it has "
                            f"{', '.join(sorted(found))}); a model of several [inputs] reads one array per input name")
        return Arrays(found, f"{path.name} ({len(found[inputs[0]])} samples)", inputs)
    if inputs not in found:
        raise DataError(f"`{path}` has no array `{inputs}` for the inputs (it has {', '.join(sorted(found))}); "
                        "set [train.source] inputs to the name of the input array")
    found["x"] = found.pop(inputs)
    return Arrays(found, f"{path.name} ({len(found['x'])} samples)")


class Files:
    """Images listed by path, each decoded when its sample is asked for."""

    def __init__(self, files: list[Path], targets: dict[str, Any], labels: dict[str, list[str]], mode: str,
                 description: str, held_out: int | None = None) -> None:
        self.files = files
        self.targets = targets
        self.labels = labels
        self.mode = mode
        self.description = description
        self.held_out = held_out

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> tuple[Any, Mapping[str, Any]]:
        return open_image(self.files[index], self.mode), {name: t[index] for name, t in self.targets.items()}

    def describe(self, index: int) -> str:
        return str(self.files[index])

    def fingerprint(self) -> str:
        """Names, sizes and targets of the files: cheap, and changes when a file is replaced by another."""
        import hashlib

        digest = hashlib.sha256()
        for file in self.files:
            digest.update(f"{file.name}\0{file.stat().st_size}\0".encode())
        for name in sorted(self.targets):
            digest.update(name.encode() + self.targets[name].tobytes())
        digest.update(str(self.held_out).encode())
        return digest.hexdigest()


def _class_files(root: Path, classes: list[str]) -> tuple[list[Path], list[int]]:
    files, labels = [], []
    for label, name in enumerate(classes):
        for file in sorted((root / name).rglob("*")):
            if file.suffix.lower() in IMAGE_SUFFIXES and file.is_file():
                files.append(file)
                labels.append(label)
    return files, labels


def imagefolder(location: str, input_shape: tuple[int, ...] | None = None) -> DataSource:
    """An image folder (root/<class>/<image>), read lazily; with train/ and val/ inside, those are the split.

    Its target is `label`, the class folders sorted by name; their names are stored in the artifact.

    Args:
        location: the folder (relative to the manifest).
        input_shape: [model] input_shape (set by the host): 1 channel reads grey, 3 RGB.
    """
    import numpy as np

    root = Path(location)
    if not root.is_dir():
        raise DataError(f"image folder `{root}` does not exist; fix [train] data = \"imagefolder:PATH\"")
    mode = image_mode(input_shape)
    parts = [root / "train", root / "val"]
    split = all(p.is_dir() for p in parts)
    classes = sorted(p.name for p in (parts[0] if split else root).iterdir()
                     if p.is_dir() and not p.name.startswith("."))
    if len(classes) < 2:
        raise DataError(f"`{root}` needs at least two class folders (root/<class>/<image>), found {classes}")
    found = [_class_files(part, classes) for part in (parts if split else [root])]
    files = [file for part_files, _ in found for file in part_files]
    labels = np.asarray([label for _, part_labels in found for label in part_labels], dtype=np.int64)
    if not files:
        raise DataError(f"`{root}` holds no images ({', '.join(IMAGE_SUFFIXES)}) in class folders")
    shown = f"{', '.join(classes[:5])}{'...' if len(classes) > 5 else ''}"
    return Files(files, {"label": labels}, {"label": classes}, mode,
                 f"image folder {root.name} ({len(files)} images, {len(classes)} classes: {shown})",
                 held_out=len(found[1][0]) if split else None)


def _rows(path: Path) -> list[dict[str, Any]]:
    import csv
    import json

    try:
        with path.open(newline="", encoding="utf-8") as stream:
            if path.suffix == ".jsonl":
                return [json.loads(line) for line in stream if line.strip()]
            return list(csv.DictReader(stream))
    except (OSError, ValueError, csv.Error) as exc:
        raise DataError(f"cannot read `{path}`: {exc}") from None


def class_codes(values: list[Any]) -> tuple[Any, list[str] | None]:
    """Integer classes as they are; anything else becomes classes numbered in sorted order, with names."""
    import numpy as np

    try:
        return np.asarray([int(v) for v in values], dtype=np.int64), None
    except (TypeError, ValueError):
        names = sorted({str(v) for v in values})
        code = {name: index for index, name in enumerate(names)}
        return np.asarray([code[str(v)] for v in values], dtype=np.int64), names


def table(location: str, input_shape: tuple[int, ...] | None = None, path_column: str = "path",
          targets: list[str] | None = None, root: str = "") -> DataSource:
    """A CSV or JSON-lines file of image paths and labels, one row per sample, images read lazily.

    Args:
        location: the .csv or .jsonl file (relative to the manifest).
        input_shape: [model] input_shape (set by the host).
        path_column: the column holding each image's path, relative to `root`.
        targets: the label columns (default: `label`); text labels become classes in sorted order.
        root: the folder image paths are relative to (default: the table's folder); no path may leave it.
    """
    path = Path(location)
    if not path.is_file():
        raise DataError(f"table `{path}` does not exist; fix [train] data")
    mode = image_mode(input_shape)
    rows = _rows(path)
    if not rows:
        raise DataError(f"`{path}` has no rows")
    wanted = [path_column, *(targets or ["label"])]
    columns = list(rows[0])
    for number, row in enumerate(rows, start=2):
        missing = [c for c in wanted if c not in row or row[c] in (None, "")]
        if missing:
            raise DataError(f"`{path}` row {number}: no value in column(s) {', '.join(missing)} (the columns are "
                            f"{', '.join(columns)}); set [train.source] path_column / targets")
    base = (path.parent / root).resolve() if root else path.parent.resolve()
    files = []
    for number, row in enumerate(rows, start=2):
        file = (base / row[path_column]).resolve()
        if not file.is_relative_to(base):
            raise DataError(f"`{path}` row {number}: `{row[path_column]}` is outside the data root `{base}`; "
                            "paths must stay inside it (set [train.source] root)")
        files.append(file)
    coded, labels = {}, {}
    for column in targets or ["label"]:
        coded[column], names = class_codes([row[column] for row in rows])
        if names:
            labels[column] = names
    return Files(files, coded, labels, mode, f"table {path.name} ({len(files)} images)")
