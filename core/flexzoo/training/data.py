"""Data sources for ``[train] data``: scikit-learn's digits, an image folder, or arrays in a .npz/.safetensors file.

Every source becomes one in-memory :class:`Dataset`: inputs, named targets, a fixed seeded
train/validation split (or one fold of a seeded k-fold split), and a fingerprint of all of it that the artifact records.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from flexzoo.errors import FlexzooError
from flexzoo.images import IMAGE_SUFFIXES, decode_image
from flexzoo.training.config import TrainConfig


class DataError(FlexzooError):
    """The data a manifest names cannot be loaded or does not fit the model."""


@dataclass(frozen=True)
class Dataset:
    """Inputs ``(N, *input_shape)``, targets by name ``(N,)`` or ``(N, k)``, and the split."""

    inputs: torch.Tensor
    targets: dict[str, torch.Tensor]
    train_index: torch.Tensor
    validation_index: torch.Tensor
    fingerprint: str
    description: str

    def batch(self, index: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The inputs and targets of the samples at ``index``."""
        return self.inputs[index], {name: target[index] for name, target in self.targets.items()}


def _digits() -> tuple[dict[str, np.ndarray], str]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = (bunch.images / 16.0).astype(np.float32)[:, None]
    labels = bunch.target.astype(np.int64)
    return {"x": images, "digit": labels, "parity": labels % 2}, "scikit-learn digits (1797 8x8 images)"


def _array_file(path: Path, inputs: str) -> tuple[dict[str, np.ndarray], str]:
    if not path.is_file():
        raise DataError(f"data file `{path}` does not exist; fix [train] data (relative paths are relative to "
                        "the manifest)")
    try:
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as archive:
                arrays = {name: archive[name] for name in archive.files}
        else:
            from safetensors.numpy import load_file

            arrays = load_file(str(path))
    except Exception as exc:
        raise DataError(f"cannot read `{path}`: {exc}") from None
    if inputs not in arrays:
        raise DataError(f"`{path}` has no array `{inputs}` for the inputs (it has {', '.join(sorted(arrays))}); "
                        "set [train] inputs to the name of the input array")
    arrays["x"] = arrays.pop(inputs)
    return arrays, f"{path.name} ({len(arrays['x'])} samples)"


def _image_classes(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def _image_folder(root: Path, classes: list[str], input_shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    channels = input_shape[0]
    if channels not in (1, 3):
        raise DataError(f"image folders give 1 or 3 channels; [model] input_shape asks for {channels}")
    images, labels = [], []
    for label, name in enumerate(classes):
        for file in sorted((root / name).rglob("*")):
            if file.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            images.append(decode_image(file, input_shape, str(file)))
            labels.append(label)
    if not images:
        raise DataError(f"`{root}` holds no images ({', '.join(IMAGE_SUFFIXES)}) in class folders")
    return np.stack(images), np.asarray(labels, dtype=np.int64)


def _images(root: Path, input_shape: tuple[int, ...] | None) -> tuple[dict[str, np.ndarray], str, int | None]:
    """An ImageFolder tree (``root/<class>/<image>``); with ``train/`` and ``val/`` inside, those are the split."""
    if not root.is_dir():
        raise DataError(f"image folder `{root}` does not exist; fix [train] data = \"imagefolder:PATH\"")
    if input_shape is None or len(input_shape) != 3:
        raise DataError("an image folder needs [model] input_shape = [channels, height, width] to size the images")
    parts = [root / "train", root / "val"]
    split = all(p.is_dir() for p in parts)
    classes = _image_classes(parts[0] if split else root)
    if len(classes) < 2:
        raise DataError(f"`{root}` needs at least two class folders (root/<class>/<image>), found {classes}")
    loaded = [_image_folder(p, classes, input_shape) for p in (parts if split else [root])]
    images = np.concatenate([images for images, _ in loaded])
    labels = np.concatenate([labels for _, labels in loaded])
    held_out = len(loaded[1][1]) if split else None
    return {"x": images, "label": labels}, f"image folder {root.name} ({len(images)} images, " \
        f"{len(classes)} classes: {', '.join(classes[:5])}{'...' if len(classes) > 5 else ''})", held_out


def _fold_split(count: int, config: TrainConfig, description: str) -> tuple[np.ndarray, np.ndarray]:
    """Fold ``config.fold`` of ``config.folds`` seeded folds for validation, the others for training.

    The folds cut one seeded permutation of every sample (an image folder's ``train/`` and ``val/`` pooled),
    so the K validation sets of one seed are disjoint and cover the data once.
    """
    if count < config.folds:
        raise DataError(f"{description}: {count} samples cannot make {config.folds} folds; lower [train] folds")
    order = np.random.default_rng(config.split_seed).permutation(count)
    parts = np.array_split(order, config.folds)
    validation = parts[config.fold]
    train = np.concatenate([part for index, part in enumerate(parts) if index != config.fold])
    return np.sort(validation), np.sort(train)


def _fingerprint(arrays: dict[str, np.ndarray], validation: np.ndarray) -> str:
    digest = hashlib.sha256()
    for name in sorted(arrays):
        array = np.ascontiguousarray(arrays[name])
        digest.update(f"{name}\0{array.dtype.str}\0{array.shape}\0".encode())
        digest.update(array.tobytes())
    digest.update(np.sort(validation).astype(np.int64).tobytes())
    return digest.hexdigest()


def _fit_inputs(inputs: np.ndarray, input_shape: tuple[int, ...] | None) -> np.ndarray:
    if input_shape is None or tuple(inputs.shape[1:]) == tuple(input_shape):
        return inputs
    if int(np.prod(inputs.shape[1:])) == int(np.prod(input_shape)):
        return inputs.reshape((len(inputs), *input_shape))
    raise DataError(f"the data's samples have shape {list(inputs.shape[1:])}, which does not fit [model] "
                    f"input_shape = {list(input_shape)}; fix input_shape or the data")


def load_dataset(config: TrainConfig, input_shape: tuple[int, ...] | None, manifest_file: str) -> Dataset:
    """Load the data ``config.data`` names, with its seeded train/validation split (fold ``config.fold`` of
    ``config.folds`` when there are folds)."""
    base = Path(manifest_file).parent
    held_out: int | None = None
    if config.data == "digits":
        arrays, description = _digits()
    elif config.data.startswith("imagefolder:"):
        arrays, description, held_out = _images(base / Path(config.data.removeprefix("imagefolder:")).expanduser(),
                                                input_shape)
    else:
        arrays, description = _array_file(base / Path(config.data).expanduser(), config.inputs)
    count = len(arrays["x"])
    short = [name for name, array in arrays.items() if len(array) != count]
    if short:
        raise DataError(f"every array needs one entry per sample ({count}); {', '.join(short)} differ(s)")
    if config.folds > 1:
        validation, train = _fold_split(count, config, description)
    elif held_out is not None:
        validation = np.arange(count - held_out, count)
        train = np.arange(count - held_out)
    else:
        order = np.random.default_rng(config.split_seed).permutation(count)
        size = max(1, round(count * config.validation_split))
        validation, train = np.sort(order[:size]), np.sort(order[size:])
    if len(train) == 0:
        raise DataError(f"{description}: no samples left for training; lower [train] validation_split")
    fingerprint = _fingerprint(arrays, validation)
    inputs = _fit_inputs(arrays.pop("x"), input_shape)
    targets = {name: torch.from_numpy(np.ascontiguousarray(array)) for name, array in arrays.items()}
    return Dataset(inputs=torch.from_numpy(np.ascontiguousarray(inputs, dtype=np.float32)), targets=targets,
                   train_index=torch.from_numpy(train.astype(np.int64)),
                   validation_index=torch.from_numpy(validation.astype(np.int64)),
                   fingerprint=fingerprint, description=description)
