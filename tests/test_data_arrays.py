""".npz and .safetensors data: memory-mapped from the file, never copied whole into the process's memory."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from flexzoo.errors import DataError
from flexzoo.testing import load_training_data

SAMPLES, SHAPE = 3200, (3, 64, 64)  # 150 MiB of float32 inputs
MODEL = """
[model]
name = "arrays"
seed = 0
input_shape = [3, 64, 64]

[backbone]
use = "cnn"
channels = [4]

[heads.label]
use = "linear"
num_classes = 2

[train]
data = "{data}"
"""


def anonymous_memory() -> int:
    """Bytes of this process's memory that no file backs (RssAnon): what a copy of the data would add to."""
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("RssAnon:"))
    return int(line.split()[1]) * 1024


def mapped_file_of(address: int) -> str:
    """The file mapped at ``address`` in this process ("" for anonymous memory, "[heap]" for the heap)."""
    with open("/proc/self/maps") as maps:
        for line in maps:
            fields = line.split(maxsplit=5)
            start, end = (int(value, 16) for value in fields[0].split("-"))
            if start <= address < end:
                return fields[5].strip() if len(fields) > 5 else ""
    raise AssertionError(f"address {address:#x} is not mapped")


def write(path, inputs, labels) -> None:
    if path.suffix == ".npz":
        np.savez(path, x=inputs, label=labels)
    else:
        from safetensors.numpy import save_file

        save_file({"x": inputs, "label": labels}, str(path))


@pytest.mark.parametrize("suffix", [".npz", ".safetensors"])
def test_array_files_are_memory_mapped_not_copied(manifest_file, registry, tmp_path, suffix):
    path = tmp_path / f"big{suffix}"
    inputs = np.random.default_rng(0).random((SAMPLES, *SHAPE), dtype=np.float32)
    write(path, inputs, np.arange(SAMPLES) % 2)
    expected = inputs[[5, 3000]].copy()
    del inputs
    before = anonymous_memory()
    data = load_training_data(manifest_file(MODEL.format(data=path.name)), registry)
    batch, targets = data.batch(data.train_index.new_tensor([5, 3000]))
    grown = anonymous_memory() - before
    assert data.in_memory and mapped_file_of(data.inputs.data_ptr()) == str(path)
    assert np.array_equal(batch.numpy(), expected) and targets["label"].tolist() == [1, 0]
    size = SAMPLES * int(np.prod(SHAPE)) * 4
    assert grown < size / 10, f"{grown / 2**20:.0f} MiB of the {size / 2**20:.0f} MiB were copied"


def test_a_compressed_npz_is_read_into_memory_with_the_same_values(manifest_file, registry, tmp_path):
    inputs = np.random.default_rng(1).random((10, *SHAPE), dtype=np.float32)
    np.savez_compressed(tmp_path / "small.npz", x=inputs, label=np.arange(10) % 2)
    data = load_training_data(manifest_file(MODEL.format(data="small.npz")), registry)
    assert not mapped_file_of(data.inputs.data_ptr()).startswith("/")  # the heap or anonymous memory
    assert np.array_equal(data.batch(data.train_index)[0].numpy(), inputs[data.train_index.numpy()])


def test_integer_inputs_stay_in_their_type_and_give_float32_batches(manifest_file, registry, tmp_path):
    pixels = np.random.default_rng(2).integers(0, 256, (10, *SHAPE), dtype=np.uint8)
    np.savez(tmp_path / "pixels.npz", x=pixels, label=np.arange(10) % 2)
    data = load_training_data(manifest_file(MODEL.format(data="pixels.npz")), registry)
    batch, _ = data.batch(data.train_index[:3])
    assert data.inputs.dtype == torch.uint8  # not four times its size as float32
    assert batch.dtype == torch.float32 and np.array_equal(batch.numpy(), pixels[data.train_index[:3].numpy()])


def test_a_truncated_safetensors_file_is_refused_by_name(manifest_file, registry, tmp_path):
    write(tmp_path / "cut.safetensors", np.zeros((10, *SHAPE), dtype=np.float32), np.arange(10) % 2)
    whole = (tmp_path / "cut.safetensors").read_bytes()
    (tmp_path / "cut.safetensors").write_bytes(whole[:len(whole) // 2])
    with pytest.raises(DataError, match=r"cannot read `.*cut.safetensors`: tensor `\w+`: its offsets do not match"):
        load_training_data(manifest_file(MODEL.format(data="cut.safetensors")), registry)
