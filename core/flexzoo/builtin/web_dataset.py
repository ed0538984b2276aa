"""The ``webdataset`` data source: WebDataset tar shards, read by random access with the standard library.

A shard is a plain tar file whose members are grouped into samples by their name up to the first dot
of the file name (``000123.jpg`` and ``000123.cls`` are one sample). The shards are indexed once (tar
headers and the small label members only); a sample's input is then read at its offset, so the host's
seeded order, rank shards, workers and mid-epoch resume work as for any map-style source. The
``webdataset`` package streams shards in order and cannot be indexed, which is why it is not used
here; shards it writes (``webdataset.TarWriter``) are read as they are. Compressed shards (.tar.gz)
cannot be read at an offset: write uncompressed shards.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flexzoo.builtin.datasets import class_codes, image_mode, open_image
from flexzoo.plugin import DataError, DataSource
from flexzoo.plugin.helpers import IMAGE_SUFFIXES


class Shards:
    """Samples at (shard, offset, size) of their input member; targets read when indexed."""

    def __init__(self, shards: list[Path], entries: list[tuple[int, int, int, str]], targets: dict[str, Any],
                 labels: dict[str, list[str]], input_shape: tuple[int, ...] | None, description: str) -> None:
        self.shards = shards
        self.entries = entries  # (shard number, data offset, size, member name)
        self.targets = targets
        self.labels = labels
        self.input_shape = input_shape
        self.description = description

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, index: int) -> tuple[Any, Mapping[str, Any]]:
        import numpy as np

        shard, offset, size, name = self.entries[index]
        with self.shards[shard].open("rb") as stream:
            stream.seek(offset)
            payload = stream.read(size)
        if len(payload) != size:
            raise OSError(f"the shard ends {size - len(payload)} bytes early")
        import io

        if name.endswith(".npy"):
            value = np.load(io.BytesIO(payload), allow_pickle=False).astype(np.float32)
        else:
            value = open_image(io.BytesIO(payload), image_mode(self.input_shape))
        return value, {target: codes[index] for target, codes in self.targets.items()}

    def describe(self, index: int) -> str:
        shard, _, _, name = self.entries[index]
        return f"{self.shards[shard].name}:{name}"

    def fingerprint(self) -> str:
        import hashlib

        digest = hashlib.sha256()
        for shard in self.shards:
            digest.update(f"{shard.name}\0{shard.stat().st_size}\0".encode())
        return digest.hexdigest()


def _shards(path: Path) -> list[Path]:
    found = sorted(path.glob("*.tar")) if path.is_dir() else sorted(path.parent.glob(path.name))
    if not found:
        raise DataError(f"no .tar shards at `{path}`; give a folder of shards or a glob such as shards/*.tar")
    return found


def _index(shard: Path, inputs: tuple[str, ...], label: str) -> tuple[list[tuple[int, int, str]], list[str]]:
    """This shard's samples: (data offset, size, member name) of each input, and each sample's label text."""
    import tarfile  # here: `zoo list` imports this module, and needs no tar

    found: dict[str, dict[str, Any]] = {}
    try:
        with tarfile.open(shard, "r:") as archive:
            for member in archive:
                if not member.isfile():
                    continue
                folder, _, file = member.name.rpartition("/")
                stem, dot, extension = file.partition(".")
                if not dot:
                    continue
                sample = found.setdefault(f"{folder}/{stem}", {})
                if extension.lower() in inputs:
                    sample["input"] = (member.offset_data, member.size, member.name)
                elif extension == label:
                    reader = archive.extractfile(member)
                    sample["label"] = reader.read().decode("utf-8").strip() if reader else ""
    except (OSError, tarfile.TarError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read the shard `{shard}`: {type(exc).__name__}: {exc}; an uncompressed tar "
                        "of <key>.<ext> members is expected") from None
    incomplete = [key for key, sample in found.items() if "input" not in sample or "label" not in sample]
    if incomplete:
        raise DataError(f"`{shard.name}`: sample `{incomplete[0].lstrip('/')}` has no "
                        f"{'input (' + ', '.join(inputs) + ')' if 'input' not in found[incomplete[0]] else label} "
                        f"member ({len(incomplete)} incomplete sample(s)); set [train.source] extensions / label")
    return [sample["input"] for sample in found.values()], [sample["label"] for sample in found.values()]


def webdataset(location: str, input_shape: tuple[int, ...] | None = None, label: str = "cls",
               extensions: list[str] | None = None) -> DataSource:
    """WebDataset tar shards (<key>.<ext> members), samples read at their offset; target `label`.

    Args:
        location: a folder of .tar shards, or a glob such as shards/train-*.tar (relative to the manifest).
        input_shape: [model] input_shape (set by the host).
        label: the extension of each sample's label member (an integer class, or text: classes in sorted order).
        extensions: the extensions an input member may have (default: image files and npy).
    """
    shards = _shards(Path(location))
    accepted = tuple(extensions or [*(suffix.lstrip(".") for suffix in IMAGE_SUFFIXES), "npy"])
    entries: list[tuple[int, int, int, str]] = []
    texts: list[str] = []
    for number, shard in enumerate(shards):
        found, found_labels = _index(shard, accepted, label)
        entries += [(number, offset, size, name) for offset, size, name in found]
        texts += found_labels
    if not entries:
        raise DataError(f"the shards at `{location}` hold no samples")
    codes, names = class_codes(texts)
    return Shards(shards, entries, {"label": codes}, {"label": names} if names else {}, input_shape,
                  f"WebDataset {Path(location).name} ({len(shards)} shard(s), {len(entries)} samples)")
