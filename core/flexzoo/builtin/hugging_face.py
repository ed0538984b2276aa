"""The ``huggingface`` data source: a Hugging Face ``datasets`` dataset on disk, read lazily.

``datasets.Dataset`` keeps its table in Arrow files that it memory-maps: a sample is read (and an
``Image`` column decoded) when the host asks for it, so a set larger than memory trains in the memory
of one batch per worker. ``datasets`` is imported when a source is made (the ``datasets`` extra).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flexzoo.builtin.datasets import class_codes, image_mode
from flexzoo.plugin import DataError, DataSource


class HuggingFaceRows:
    """Rows of a ``datasets.Dataset``: the input column (an image, or an array) and the target columns."""

    def __init__(self, dataset: Any, column: str, targets: dict[str, Any], labels: dict[str, list[str]],
                 input_shape: tuple[int, ...] | None, description: str, fingerprint: str) -> None:
        self.dataset = dataset
        self.column = column
        self.targets = targets
        self.labels = labels
        self.input_shape = input_shape
        self.description = description
        self._fingerprint = fingerprint

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> tuple[Any, Mapping[str, Any]]:
        import numpy as np

        value = self.dataset[index][self.column]
        if hasattr(value, "convert"):  # an Image feature, decoded by datasets
            value = value.convert(image_mode(self.input_shape))
        else:
            value = np.asarray(value, dtype=np.float32)
        return value, {name: codes[index] for name, codes in self.targets.items()}

    def describe(self, index: int) -> str:
        return f"row {index} of {self.description}"

    def fingerprint(self) -> str:
        return self._fingerprint


def _open(path: Path, split: str) -> Any:
    import datasets

    try:
        if path.is_dir():
            found = datasets.load_from_disk(str(path), keep_in_memory=False)
            if isinstance(found, datasets.DatasetDict):
                if split not in found:
                    raise DataError(f"`{path}` has no split `{split}` (it has {', '.join(found)}); "
                                    "set [train.source] split")
                found = found[split]
            return found
        files = sorted(path.parent.glob(path.name))
        if not files:
            raise DataError(f"no data at `{path}`; give a `save_to_disk` folder, or .parquet/.arrow files "
                            "(a glob such as data/*.parquet)")
        if all(file.suffix == ".arrow" for file in files):
            parts = [datasets.Dataset.from_file(str(file), in_memory=False) for file in files]  # memory-mapped
            return parts[0] if len(parts) == 1 else datasets.concatenate_datasets(parts)
        if all(file.suffix == ".parquet" for file in files):
            return datasets.load_dataset("parquet", data_files=[str(file) for file in files], split="train")
        raise DataError(f"`{path}`: give .parquet or .arrow files (found {', '.join(f.name for f in files[:3])})")
    except DataError:
        raise
    except Exception as exc:
        raise DataError(f"cannot read the Hugging Face dataset at `{path}`: {type(exc).__name__}: {exc}") from None


def huggingface(location: str, input_shape: tuple[int, ...] | None = None, column: str = "image",
                targets: list[str] | None = None, split: str = "train") -> DataSource:
    """A Hugging Face ``datasets`` dataset on disk (a ``save_to_disk`` folder, or .parquet/.arrow files).

    Arrow data is memory-mapped and each row decoded when asked for. Class names come from a
    ``ClassLabel`` feature, or from text labels in sorted order.

    Args:
        location: a ``save_to_disk`` folder, or a .parquet/.arrow file or glob (relative to the manifest).
        input_shape: [model] input_shape (set by the host).
        column: the input column: an ``Image`` feature, or arrays of input_shape.
        targets: the label columns (default: `label`).
        split: the split of a saved ``DatasetDict``.
    """
    import numpy as np

    path = Path(location)
    dataset = _open(path, split)
    wanted = [column, *(targets or ["label"])]
    missing = [name for name in wanted if name not in dataset.column_names]
    if missing:
        raise DataError(f"`{path}` has no column(s) {', '.join(missing)} (its columns: "
                        f"{', '.join(dataset.column_names)}); set [train.source] column / targets")
    coded: dict[str, Any] = {}
    labels: dict[str, list[str]] = {}
    for name in targets or ["label"]:
        feature = dataset.features[name]
        values = dataset.data.column(name).to_pylist()  # the column alone: no input is decoded
        if getattr(feature, "names", None):
            coded[name], labels[name] = np.asarray(values, dtype=np.int64), list(feature.names)
        else:
            coded[name], names = class_codes(values)
            if names:
                labels[name] = names
    if type(dataset.features[column]).__name__ == "Image":
        image_mode(input_shape)  # images need a [channels, height, width] input_shape of 1 or 3 channels
    return HuggingFaceRows(dataset, column, coded, labels, input_shape,
                           f"Hugging Face dataset {path.name} ({len(dataset)} rows)", dataset._fingerprint)
