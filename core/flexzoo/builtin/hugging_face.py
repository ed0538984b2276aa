"""The ``huggingface`` data source: a Hugging Face ``datasets`` dataset on disk, read lazily.

``datasets.Dataset`` keeps its table in Arrow files that it memory-maps: a sample is read (and an
``Image`` column decoded) when the host asks for it, so a set larger than memory trains in the memory
of one batch per worker. With ``streaming = true``, Parquet files are streamed instead (an
IterableDataset per file, never converted to Arrow in the cache): the host reads them in passes
(flexzoo.training.streaming). ``datasets`` is imported when a source is made (the ``datasets`` extra).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from flexzoo.builtin.datasets import class_codes, image_mode, open_image
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


READ_ROWS = 256  # rows a stream reads at a time


class HuggingFaceStream:
    """Rows of Parquet files streamed by ``datasets`` (an IterableDataset per file): never converted to Arrow
    in the cache nor held whole. Rows are read in passes (see flexzoo.training.streaming); ``source[i]``
    reads the file of row ``i`` up to it, which is only for the few rows a run looks at before training."""

    streaming = True

    def __init__(self, files: list[Path], counts: list[int], column: str, targets: dict[str, Any],
                 labels: dict[str, list[str]], input_shape: tuple[int, ...] | None, shuffle_buffer: int) -> None:
        import numpy as np

        self.files, self.column, self.targets, self.labels = files, column, targets, labels
        self.input_shape, self.shuffle_buffer = input_shape, shuffle_buffer
        self.starts = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        self.description = f"Hugging Face stream {files[0].parent.name}/ ({len(files)} file(s), {self.starts[-1]} rows)"

    def __len__(self) -> int:
        return int(self.starts[-1])

    def rows(self, order: list[int]) -> Iterator[tuple[int, Any]]:
        """(position, undecoded input) of every row, the files in ``order``; positions count in file order."""
        import datasets

        for number in order:
            stream = datasets.load_dataset("parquet", data_files=[str(self.files[number])], split="train",
                                           streaming=True).select_columns([self.column]).decode(False)
            position = int(self.starts[number])
            for rows in stream.iter(batch_size=READ_ROWS):  # iter, not __iter__: that one splits files by worker
                for raw in rows[self.column]:
                    yield position, raw
                    position += 1

    def sample(self, position: int, raw: Any) -> tuple[Any, Mapping[str, Any]]:
        """Decode one row's input (an image's bytes, or an array)."""
        import numpy as np

        if isinstance(raw, dict) and "bytes" in raw:  # an undecoded Image feature
            import io

            value = open_image(io.BytesIO(raw["bytes"]) if raw["bytes"] else raw["path"], image_mode(self.input_shape))
        else:
            value = np.asarray(raw, dtype=np.float32)
        return value, {name: codes[position] for name, codes in self.targets.items()}

    def __getitem__(self, index: int) -> tuple[Any, Mapping[str, Any]]:
        import numpy as np

        number = int(np.searchsorted(self.starts, index, side="right")) - 1
        for position, raw in self.rows([number]):
            if position == index:
                return self.sample(position, raw)
        raise IndexError(f"row {index} is not in {self.files[number].name}")

    def describe(self, index: int) -> str:
        import numpy as np

        number = int(np.searchsorted(self.starts, index, side="right")) - 1
        return f"row {index - int(self.starts[number])} of {self.files[number].name}"

    def fingerprint(self) -> str:
        import hashlib

        digest = hashlib.sha256()
        for file in self.files:
            digest.update(f"{file.name}\0{file.stat().st_size}\0".encode())
        for name in sorted(self.targets):
            digest.update(name.encode() + self.targets[name].tobytes())
        return digest.hexdigest()


def _stream(path: Path, input_shape: tuple[int, ...] | None, column: str, targets: list[str] | None,
            shuffle_buffer: int) -> HuggingFaceStream:
    """Parquet files to stream: their row counts and label columns read without reading the inputs."""
    import datasets
    import pyarrow.parquet as pq

    files = sorted(path.parent.glob(path.name))
    if not files or any(file.suffix != ".parquet" for file in files):
        raise DataError(f"streaming = true reads .parquet files (a glob such as data/*.parquet); `{path}` gives "
                        f"{', '.join(f.name for f in files[:3]) or 'none'}")
    if shuffle_buffer < 1:
        raise DataError(f"[train.source] shuffle_buffer must be at least 1, got {shuffle_buffer}")
    try:
        features = datasets.Features.from_arrow_schema(pq.read_schema(files[0]))
        wanted = [column, *(targets or ["label"])]
        missing = [name for name in wanted if name not in features]
        if missing:
            raise DataError(f"`{files[0]}` has no column(s) {', '.join(missing)} (its columns: "
                            f"{', '.join(features)}); set [train.source] column / targets")
        counts = [pq.ParquetFile(file).metadata.num_rows for file in files]
        table = pq.read_table([str(file) for file in files], columns=targets or ["label"])  # labels only
    except DataError:
        raise
    except Exception as exc:
        raise DataError(f"cannot read the Parquet files at `{path}`: {type(exc).__name__}: {exc}") from None
    coded, labels = _coded(table.to_pydict(), features, targets or ["label"])
    if type(features[column]).__name__ == "Image":
        image_mode(input_shape)
    return HuggingFaceStream(files, counts, column, coded, labels, input_shape, shuffle_buffer)


def _coded(columns: dict[str, list[Any]], features: Any, names: list[str]) -> tuple[dict[str, Any], dict]:
    """Each target column as integer codes, with class names from a ClassLabel or from sorted text labels."""
    import numpy as np

    coded: dict[str, Any] = {}
    labels: dict[str, list[str]] = {}
    for name in names:
        if getattr(features[name], "names", None):
            coded[name], labels[name] = np.asarray(columns[name], dtype=np.int64), list(features[name].names)
        else:
            coded[name], found = class_codes(columns[name])
            if found:
                labels[name] = found
    return coded, labels


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
                targets: list[str] | None = None, split: str = "train", streaming: bool = False,
                shuffle_buffer: int = 1000) -> DataSource:
    """A Hugging Face ``datasets`` dataset on disk (a ``save_to_disk`` folder, or .parquet/.arrow files).

    Arrow data is memory-mapped and each row decoded when asked for. Class names come from a
    ``ClassLabel`` feature, or from text labels in sorted order. With `streaming`, Parquet files are
    read as a stream (a ``datasets`` IterableDataset) in passes, with no Arrow copy in the cache.

    Args:
        location: a ``save_to_disk`` folder, or a .parquet/.arrow file or glob (relative to the manifest).
        input_shape: [model] input_shape (set by the host).
        column: the input column: an ``Image`` feature, or arrays of input_shape.
        targets: the label columns (default: `label`).
        split: the split of a saved ``DatasetDict``.
        streaming: stream .parquet files instead of converting them to Arrow: each epoch is one pass in a
            seeded order (files shuffled, rows shuffled within windows of `shuffle_buffer` rows).
        shuffle_buffer: with `streaming`, rows shuffled together (each rank and worker holds its share of them).
    """
    path = Path(location)
    if streaming:
        return _stream(path, input_shape, column, targets, shuffle_buffer)
    dataset = _open(path, split)
    wanted = [column, *(targets or ["label"])]
    missing = [name for name in wanted if name not in dataset.column_names]
    if missing:
        raise DataError(f"`{path}` has no column(s) {', '.join(missing)} (its columns: "
                        f"{', '.join(dataset.column_names)}); set [train.source] column / targets")
    names = targets or ["label"]  # the columns alone: no input is decoded
    coded, labels = _coded({name: dataset.data.column(name).to_pylist() for name in names}, dataset.features, names)
    if type(dataset.features[column]).__name__ == "Image":
        image_mode(input_shape)  # images need a [channels, height, width] input_shape of 1 or 3 channels
    return HuggingFaceRows(dataset, column, coded, labels, input_shape,
                           f"Hugging Face dataset {path.name} ({len(dataset)} rows)", dataset._fingerprint)
