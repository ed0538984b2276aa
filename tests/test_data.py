"""The [train] data pipeline: lazy sources, DataLoader workers, rank shards, preprocessing, class names, bad data."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from flexzoo import ManifestError, load_manifest
from flexzoo.pipeline.stages import train
from flexzoo.testing import load_training_data, manifest, read_artifact, registry_of

MODEL = manifest(name="images", input_shape=[3, 8, 8], backbone={"use": "cnn", "channels": [4]},
                 heads={"label": {"use": "linear", "num_classes": 2}},
                 train={"epochs": 1, "batch_size": 4}).toml()


def make_folder(root, per_class=5, classes=("dark", "light"), size=(12, 10)):
    from PIL import Image

    for label, name in enumerate(classes):
        folder = root / name
        folder.mkdir(parents=True)
        for index in range(per_class):
            shade = 30 + 180 * label + index
            Image.new("RGB", size, (shade, shade, 255 - shade)).save(folder / f"{index}.png")
    return root


def data_for(manifest_file, registry, extra: str):
    """The [train] data of MODEL with ``extra`` [train] keys, as training reads it."""
    return load_training_data(manifest_file(MODEL + extra), registry)


def test_an_image_folder_is_read_lazily_and_decodes_as_before(manifest_file, registry, tmp_path):
    import numpy as np
    from PIL import Image

    make_folder(tmp_path / "images")
    data = data_for(manifest_file, registry, 'data = "imagefolder:images"\n'
                        '[train.preprocess]\nnormalize = "none"\n')
    assert not data.in_memory and data.labels == {"label": ["dark", "light"]}
    inputs, targets = data.batch(torch.tensor([0, 9]))
    with Image.open(tmp_path / "images" / "dark" / "0.png") as image:
        expected = np.asarray(image.convert("RGB").resize((8, 8), Image.BILINEAR), dtype=np.float32) / 255.0
    assert torch.equal(inputs[0], torch.from_numpy(expected.transpose(2, 0, 1).copy()))
    assert targets["label"].tolist() == [0, 1]


def test_workers_give_the_same_batches_as_the_training_process(manifest_file, registry, tmp_path):
    make_folder(tmp_path / "images")
    extra = 'data = "imagefolder:images"\nworkers = {}\n[train.augment]\nhflip = 0.5\nrotation = 20.0\n'
    seen = []
    for workers in (0, 2):
        data = data_for(manifest_file, registry, extra.format(workers))
        index = [data.train_index[:4], data.train_index[4:]]
        seen.append([batch for batch, _ in data.batches(index, epoch=3, train=True)])
        data.close()
    assert all(torch.equal(a, b) for a, b in zip(*seen, strict=True))


def test_two_ranks_read_disjoint_shards_that_cover_the_epoch(manifest_file, registry, tmp_path):
    make_folder(tmp_path / "images", per_class=9)
    data = data_for(manifest_file, registry, 'data = "imagefolder:images"\nvalidation_split = 0.25\n'
                        '[train.preprocess]\nnormalize = "none"\n')
    data.preprocessing()  # resolved once before the epoch (it looks at one sample): not a shard's read
    read = {rank: [] for rank in (0, 1)}
    original = data.source.__class__.__getitem__

    class Recording(data.source.__class__):
        def __getitem__(self, index):
            read[current].append(index)
            return original(self, index)

    data.source.__class__ = Recording
    order = data.train_index[torch.randperm(len(data.train_index), generator=torch.Generator().manual_seed(0))]
    batches = [order[start:start + 4] for start in range(0, len(order), 4)]
    for current in (0, 1):
        data._samples = None
        for _ in data.batches([b[current::2] for b in batches], epoch=0, train=True):
            pass
        data._loaders.clear()
    assert not set(read[0]) & set(read[1])
    assert sorted(read[0] + read[1]) == sorted(data.train_index.tolist())


@pytest.mark.slow
def test_training_records_preprocessing_and_class_names(manifest_file, registry, tmp_path):
    make_folder(tmp_path / "images")
    text = MODEL + 'data = "imagefolder:images"\nworkers = 1\n[train.augment]\nhflip = 0.5\n'
    result = train(load_manifest(manifest_file(text), registry), tmp_path / "out", registry)
    card = read_artifact(result.artifact).info["card"]
    assert card["heads"]["label"]["labels"] == ["dark", "light"]
    prep = card["preprocessing"]
    assert prep["input_size"] == [3, 8, 8] and prep["normalization"] == "data" and len(prep["mean"]) == 3
    assert prep["resize"] == "stretch" and prep["channel_order"] == "RGB"


def test_a_corrupt_image_is_refused_by_name(manifest_file, registry, tmp_path):
    make_folder(tmp_path / "images")
    (tmp_path / "images" / "dark" / "0.png").write_bytes(b"\x89PNG not really")
    data = data_for(manifest_file, registry, 'data = "imagefolder:images"\n[train.preprocess]\n'
                        'normalize = "none"\n')
    with pytest.raises(Exception, match=r"cannot read .*dark/0.png: UnidentifiedImageError.*on_bad_sample"):
        data.batch(data.train_index.new_tensor(list(range(10))))


def test_a_corrupt_image_is_skipped_with_a_warning(manifest_file, registry, tmp_path):
    make_folder(tmp_path / "images")
    (tmp_path / "images" / "light" / "1.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    data = data_for(manifest_file, registry, 'data = "imagefolder:images"\non_bad_sample = "skip"\n'
                        '[train.preprocess]\nnormalize = "none"\n')
    with pytest.warns(UserWarning, match=r"skipping unreadable sample .*light/1.png"):
        inputs, targets = data.batch(torch.arange(10))
    assert len(inputs) == 9 and len(targets["label"]) == 9 and len(data.skipped) == 1


def test_a_table_of_paths_refuses_a_path_outside_its_root(manifest_file, registry, tmp_path):
    make_folder(tmp_path / "images")
    (tmp_path / "images" / "list.csv").write_text("path,label\ndark/0.png,dark\n../../etc/passwd,light\n")
    with pytest.raises(Exception, match=r"row 3: `../../etc/passwd` is outside the data root"):
        data_for(manifest_file, registry, 'data = "images/list.csv"\n')


def test_a_table_names_a_missing_column(manifest_file, registry, tmp_path):
    make_folder(tmp_path / "images")
    (tmp_path / "images" / "list.jsonl").write_text(json.dumps({"file": "dark/0.png", "label": 0}) + "\n")
    with pytest.raises(Exception, match=r"no value in column\(s\) path \(the columns are file, label\)"):
        data_for(manifest_file, registry, 'data = "images/list.jsonl"\n')


def test_a_table_gives_class_names_from_text_labels(manifest_file, registry, tmp_path):
    make_folder(tmp_path / "images")
    rows = [f"{c}/{i}.png,{c}" for c in ("dark", "light") for i in range(5)]
    (tmp_path / "images" / "list.csv").write_text("path,label\n" + "\n".join(rows) + "\n")
    data = data_for(manifest_file, registry, 'data = "images/list.csv"\n')
    assert data.labels == {"label": ["dark", "light"]} and len(data.train_index) == 8


def test_nan_inputs_are_refused(manifest_file, registry, tmp_path):
    import numpy as np

    x = np.zeros((10, 3, 8, 8), dtype=np.float32)
    x[4, 0, 0, 0] = np.nan
    np.savez(tmp_path / "d.npz", x=x, label=np.arange(10) % 2)
    with pytest.raises(Exception, match=r"1 sample\(s\) hold NaN or infinite values \(samples 4\)"):
        data_for(manifest_file, registry, 'data = "d.npz"\n')


def test_an_unknown_data_source_gets_suggestions(manifest_file, registry):
    with pytest.raises(ManifestError, match=r"did you mean `imagefolder`"):
        load_manifest(manifest_file(MODEL + 'data = "imagefoldr:images"\n'), registry)


def test_an_unknown_augment_key_gets_suggestions(manifest_file, registry):
    with pytest.raises(ManifestError, match=r"(?s)unknown key `hflp` in \[train.augment\].*did you mean `hflip`"):
        load_manifest(manifest_file(MODEL + 'data = "digits"\n[train.augment]\nhflp = 0.5\n'), registry)


def test_a_plugin_data_source_is_found_through_the_hook(manifest_file, tmp_path):
    import types

    import numpy as np

    from flexzoo.plugin import Component, hookimpl

    def ramp(location: str, size: int = 12) -> object:
        """Noise images whose label is their index's parity.

        Args:
            location: unused.
            size: samples.
        """
        from flexzoo.builtin.datasets import Arrays

        x = np.random.default_rng(0).random((size, 3, 8, 8), dtype=np.float32)
        return Arrays({"x": x, "label": np.arange(size) % 2}, f"ramp {location}")

    plugin = types.SimpleNamespace(flexzoo_datasets=hookimpl(lambda: [Component("ramp", ramp)]))
    registry = registry_of(acme=plugin)
    data = data_for(manifest_file, registry, 'data = "ramp:x"\n[train.source]\nsize = 20\n')
    assert data.in_memory and len(data.train_index) == 16 and data.description.endswith("/x")


def test_prediction_prepares_an_image_as_validation_did(manifest_file, registry, tmp_path):
    from flexzoo.prediction import Predictor
    from flexzoo.prediction.inputs import read_inputs

    make_folder(tmp_path / "images", size=(14, 9))  # not square: keep_aspect resizes, then cuts the middle
    text = MODEL + ('data = "imagefolder:images"\n'
                    '[train.preprocess]\nresize = "keep_aspect"\ninterpolation = "bicubic"\n')
    manifest = load_manifest(manifest_file(text), registry)
    result = train(manifest, tmp_path / "out", registry)
    predictor = Predictor.load(result.artifact, registry=registry)
    recorded = predictor.preprocessing
    assert recorded["normalization"] == "data" and recorded["resize"] == "keep_aspect"
    data = load_training_data(manifest, registry)
    index = data.validation_index[:3]
    expected, _ = data.batch(index)
    files = [data.source.describe(int(i)) for i in index]
    got = np.stack([sample.array for sample in read_inputs(files, predictor.input_shape, recorded)])
    assert np.allclose(got, expected.numpy(), atol=1e-5)  # resized, cropped and normalized (data mean/std) alike


def test_an_empty_index_batch_reads_as_an_empty_batch_of_the_input_shape(manifest_file, registry, tmp_path):
    # 9 validation samples over 2 ranks in batches of 4: rank 1's second batch is empty, and the model still runs it
    make_folder(tmp_path / "images")
    data = data_for(manifest_file, registry, 'data = "imagefolder:images"\n')
    empty = torch.zeros(0, dtype=torch.long)
    for inputs, targets in data.batches([data.train_index[:2], empty], epoch=0, train=False):
        assert inputs.shape[1:] == (3, 8, 8) and inputs.dtype == torch.float32
        assert targets["label"].shape[0] == len(inputs)
    assert len(inputs) == 0
    data.close()
