"""Batch prediction in shards: ``zoo predict ARTIFACT INPUT... -o OUT [--nproc N]``.

The inputs (image files, folders of images, .npy/.npz/.json files) are listed in a fixed order and cut into
shards of :data:`SHARD_FILES` files; rank ``r`` of ``w`` (ranks started by torch's elastic launcher, the same
rendezvous as ``zoo train --nproc [--nnodes ...]``) predicts shards ``r, r + w, ...``, and writes each one's results
as JSON lines or Parquet (:mod:`~flexzoo.prediction.result_files`) to ``OUT/shard-NNNNN.jsonl`` or ``.parquet``
atomically. A shard already written is skipped, so a run stopped or killed continues where it was by running the
same command again, with any number of ranks; the results do not depend on the number of ranks.

On several machines (``--nnodes N``, one ``zoo predict`` per node) every node lists the same inputs, so each needs
them at the same path; OUT is best a shared folder, else each node's OUT holds the shards its ranks wrote (the
union is the run). An elastic run (``--nnodes MIN:MAX``) restarts its ranks when a node leaves or joins: they skip
the shards already written.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path

from flexzoo.atomic import write_atomically
from flexzoo.inputs.images import IMAGE_SUFFIXES
from flexzoo.prediction.inputs import InputError, read_inputs
from flexzoo.prediction.predictor import Predictor
from flexzoo.prediction.result_files import write_results
from flexzoo.reporting.progress import Bars

__all__ = ["SHARD_FILES", "input_files", "predict_shards", "shard_path"]

SHARD_FILES = 512


def input_files(paths: Sequence[str | Path]) -> list[Path]:
    """Every input file, in the order ``zoo predict`` reads them (a folder's images sorted)."""
    files: list[Path] = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
            if not found:
                raise InputError(f"{path}: the folder holds no images ({', '.join(IMAGE_SUFFIXES)})")
            files += found
        elif path.is_file():
            files.append(path)
        else:
            raise InputError(f"{path}: no such file or folder")
    return files


def shard_path(out: str | Path, number: int, file_format: str = "jsonl") -> Path:
    return Path(out) / f"shard-{number:05d}.{file_format}"


def predict_shards(predictor: Predictor, files: list[Path], out: str | Path, rank: int = 0, world: int = 1, *,
                   batch_size: int = 64, top_k: int = 1, shard_files: int = SHARD_FILES,
                   file_format: str = "jsonl") -> tuple[int, int]:
    """Predict this rank's shards not written yet, as ``file_format`` (jsonl or parquet); (shards written, shards
    skipped).

    Progress goes to stderr: a bar over the files when one process draws on a terminal, else a line per shard
    with the rank, the rate and the ETA.
    """
    shards = [files[start:start + shard_files] for start in range(0, len(files), shard_files)]
    written = skipped = samples_done = 0
    started = time.perf_counter()
    mine = list(range(rank, len(shards), world))
    with Bars("files", shown=None if world == 1 else False) as bars:
        bar = bars.add("predict", sum(len(shards[n]) for n in mine if not shard_path(out, n, file_format).exists()))
        for number in mine:
            target = shard_path(out, number, file_format)
            if target.exists():
                skipped += 1
                continue
            samples = read_inputs(shards[number], predictor.input_shape, predictor.preprocessing)
            results = predictor.predict_samples([s.array for s in samples], batch_size, top_k,
                                                geometries=[s.geometry for s in samples])
            names = [sample.name for sample in samples]
            write_atomically(target, lambda partial, names=names, results=results: write_results(
                partial, names, results, file_format, predictor.heads))
            written += 1
            samples_done += len(samples)
            if bars.shown:
                bars.advance(bar, len(shards[number]), f"{written} shard(s) written")
                continue
            rate = samples_done / max(time.perf_counter() - started, 1e-9)
            left = sum(1 for k in range(number + world, len(shards), world)
                       if not shard_path(out, k, file_format).exists())
            print(f"rank {rank}: {target.name} ({len(samples)} samples), {rate:.0f} samples/s, "
                  f"{left} shard(s) left, ETA {left * shard_files / max(rate, 1e-9):.0f} s", file=sys.stderr,
                  flush=True)
    return written, skipped
