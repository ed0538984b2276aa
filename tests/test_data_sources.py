"""Hugging Face `datasets` and WebDataset shards as [train] data: made in the test, trained on for one epoch."""

from __future__ import annotations

import io

import numpy as np
import pytest

from flexzoo import FlexzooError, load_manifest
from flexzoo.pipeline.stages import train
from flexzoo.testing import load_training_data, manifest, read_artifact

MODEL = manifest(name="sources", input_shape=[3, 8, 8], backbone={"use": "cnn", "channels": [4]},
                 heads={"label": {"use": "linear", "num_classes": 2}},
                 train={"epochs": 1, "batch_size": 4}).toml()


def images(count=12):
    from PIL import Image

    for index in range(count):
        label = index % 2
        shade = 40 + 160 * label + index
        yield Image.new("RGB", (10, 12), (shade, shade, 255 - shade)), label


def trained_card(manifest_file, registry, tmp_path, extra):
    manifest = load_manifest(manifest_file(MODEL + extra), registry)
    result = train(manifest, tmp_path / "out", registry)
    return read_artifact(result.artifact).info["card"], load_training_data(manifest, registry)


def test_training_reads_a_saved_hugging_face_dataset_with_its_class_names(manifest_file, registry, tmp_path):
    datasets = pytest.importorskip("datasets")
    pairs = list(images())
    features = datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(names=["dark", "light"])})
    saved = datasets.Dataset.from_dict({"image": [i for i, _ in pairs], "label": [lab for _, lab in pairs]},
                                       features=features)
    saved.save_to_disk(str(tmp_path / "hf"))
    card, data = trained_card(manifest_file, registry, tmp_path, 'data = "huggingface:hf"\n')
    assert card["heads"]["label"]["labels"] == ["dark", "light"]
    assert card["preprocessing"]["normalization"] == "data"
    assert not data.in_memory and len(data.train_index) + len(data.validation_index) == 12


def test_training_reads_parquet_files_with_text_labels_and_array_inputs(manifest_file, registry, tmp_path):
    datasets = pytest.importorskip("datasets")
    rng = np.random.default_rng(0)
    rows = {"x": [rng.random((3, 8, 8), dtype=np.float32).tolist() for _ in range(12)],
            "kind": ["cat", "dog"] * 6}
    datasets.Dataset.from_dict(rows).to_parquet(str(tmp_path / "part-0.parquet"))
    card, _ = trained_card(manifest_file, registry, tmp_path, 'data = "huggingface:part-*.parquet"\n'
                              '[train.source]\ncolumn = "x"\ntargets = ["kind"]\n'
                              '[train.heads.label]\ntarget = "kind"\n')
    assert card["heads"]["label"]["labels"] == ["cat", "dog"]
    assert "preprocessing" not in card  # arrays are used as they are


def test_a_missing_hugging_face_column_is_named(manifest_file, registry, tmp_path):
    datasets = pytest.importorskip("datasets")
    datasets.Dataset.from_dict({"pixels": [[0.0]], "label": [0]}).save_to_disk(str(tmp_path / "hf"))
    manifest = load_manifest(manifest_file(MODEL + 'data = "huggingface:hf"\n'), registry)
    with pytest.raises(FlexzooError, match=r"no column\(s\) image .*its columns: pixels, label.*\[train.source\]"):
        load_training_data(manifest, registry)


def write_shards(folder, per_shard=6, shards=2):
    wds = pytest.importorskip("webdataset")
    folder.mkdir()
    pairs = list(images(per_shard * shards))
    for shard in range(shards):
        with wds.TarWriter(str(folder / f"train-{shard:03d}.tar")) as sink:
            for index in range(shard * per_shard, (shard + 1) * per_shard):
                image, label = pairs[index]
                encoded = io.BytesIO()
                image.save(encoded, format="PNG")
                sink.write({"__key__": f"{index:06d}", "png": encoded.getvalue(), "cls": str(label)})
    return folder


def test_training_reads_webdataset_shards_each_sample_once(manifest_file, registry, tmp_path):
    write_shards(tmp_path / "shards")
    card, data = trained_card(manifest_file, registry, tmp_path, 'data = "webdataset:shards/train-*.tar"\n'
                              'workers = 1\n')
    assert len(data.source) == 12 and data.source.describe(0) == "train-000.tar:000000.png"
    assert sorted(data.targets["label"].tolist()) == [0] * 6 + [1] * 6
    assert card["preprocessing"]["input_size"] == [3, 8, 8]  # trained on the decoded images


def test_an_unreadable_shard_is_named(manifest_file, registry, tmp_path):
    (tmp_path / "shards").mkdir()
    (tmp_path / "shards" / "broken.tar").write_bytes(b"not a tar file at all" * 40)
    manifest = load_manifest(manifest_file(MODEL + 'data = "webdataset:shards"\n'), registry)
    with pytest.raises(FlexzooError, match=r"cannot read the shard `.*broken.tar`"):
        load_training_data(manifest, registry)
