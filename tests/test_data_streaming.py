"""Hugging Face `datasets` streaming of local Parquet files: passes in a seeded order, shared by ranks and workers."""

from __future__ import annotations

import numpy as np
import pytest

from flexzoo import load_manifest
from flexzoo.errors import DataError
from flexzoo.pipeline.stages import train
from flexzoo.testing import load_training_data, read_artifact

datasets = pytest.importorskip("datasets")

MODEL = """
[model]
name = "stream"
seed = 0
input_shape = {shape}

[backbone]
use = "cnn"
channels = [4]

[heads.label]
use = "linear"
num_classes = 2

[train]
data = "huggingface:rows/*.parquet"
epochs = {epochs}
batch_size = 4
workers = {workers}

[train.source]
column = "{column}"
streaming = true
shuffle_buffer = 6
"""


def write_parquet(folder, columns: dict, features, files: int = 2) -> None:
    folder.mkdir()
    table = datasets.Dataset.from_dict(columns, features=features)
    for number in range(files):
        table.shard(files, number, contiguous=True).to_parquet(str(folder / f"part-{number}.parquet"))


@pytest.mark.slow
def test_training_streams_a_local_parquet_dataset_with_its_class_names(manifest_file, registry, tmp_path):
    from PIL import Image

    shades = [40 + 160 * (i % 2) + i for i in range(14)]
    write_parquet(tmp_path / "rows", {"image": [Image.new("RGB", (10, 12), (s, s, 255 - s)) for s in shades],
                                      "label": [i % 2 for i in range(14)]},
                  datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(names=["dark", "light"])}))
    text = MODEL.format(shape=[3, 8, 8], epochs=2, workers=1, column="image")
    result = train(load_manifest(manifest_file(text), registry), tmp_path / "out", registry)
    card = read_artifact(result.artifact).info["card"]
    assert card["heads"]["label"]["labels"] == ["dark", "light"] and card["preprocessing"]["normalization"] == "data"
    assert [record["epoch"] for record in result.history] == [1, 2]
    streamed = load_training_data(manifest_file(text), registry)
    indexed = load_training_data(manifest_file(text.replace("streaming = true", "streaming = false")), registry)
    assert streamed.streamed and not indexed.streamed
    assert streamed.validation_index.tolist() == indexed.validation_index.tolist()  # the same seeded split
    first = streamed.batch(streamed.validation_index[:2])[0]
    assert first.equal(indexed.batch(indexed.validation_index[:2])[0])  # decoded and normalized alike


def rows_read(data, epoch: int, rank: int, world: int) -> list[int]:
    """The row numbers (each row's input is filled with its number) of one rank's epoch."""
    full, rest = divmod(len(data.train_index), data.config.batch_size)
    steps = full + (rest >= world)  # as the loop counts them: a last partial batch when every rank gets a row
    read = []
    for inputs, targets in data.epoch_batches(epoch, steps, rank, world):
        numbers = inputs.flatten(1)[:, 0].round().long()
        assert targets["label"].tolist() == (numbers % 2).tolist()  # each row keeps its own label
        read += numbers.tolist()
    return read


def test_two_ranks_and_their_workers_stream_disjoint_rows_that_cover_each_epoch(manifest_file, registry, tmp_path):
    count = 26
    write_parquet(tmp_path / "rows", {"x": [np.full((1, 4, 4), i, dtype=np.float32) for i in range(count)],
                                      "label": [i % 2 for i in range(count)]},
                  datasets.Features({"x": datasets.Array3D((1, 4, 4), "float32"), "label": datasets.Value("int64")}),
                  files=3)
    text = MODEL.format(shape=[1, 4, 4], epochs=1, workers=2, column="x")
    data = load_training_data(manifest_file(text), registry)
    assert data.streamed and len(data.train_index) == 21  # the seeded split of 26 rows
    epochs = [[rows_read(data, epoch, rank, 2) for rank in (0, 1)] for epoch in (0, 1)]
    train_rows = data.train_index.tolist()
    for first, second in epochs:
        assert not set(first) & set(second)
        assert len(first + second) == 20 and set(first + second) < set(train_rows)  # 5 batches of 4; 1 row left
    assert epochs[0][0] != epochs[1][0]  # reshuffled every epoch
    assert [rows_read(data, 0, rank, 2) for rank in (0, 1)] == epochs[0]  # the same order for the same seed


def test_streaming_needs_parquet_files(manifest_file, registry, tmp_path):
    (tmp_path / "rows").mkdir()
    (tmp_path / "rows" / "a.csv").write_text("x,label\n1,0\n")
    text = MODEL.format(shape=[1, 4, 4], epochs=1, workers=0, column="x").replace("*.parquet", "*.csv")
    with pytest.raises(DataError, match=r"streaming = true reads .parquet files"):
        load_training_data(manifest_file(text), registry)
