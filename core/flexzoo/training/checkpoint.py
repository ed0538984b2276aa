"""Checkpoints: one directory per epoch (safetensors for tensors, JSON for the rest), published atomically.

``checkpoints/epoch-0003/`` is written under a temporary name and renamed when complete; then
``checkpoints/latest.json`` is replaced atomically to point at it, and older epochs are removed.
A run killed at any moment leaves ``latest.json`` pointing at a complete checkpoint (or absent).
"""

from __future__ import annotations

import json
import os
import shutil
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from flexzoo.artifact.format import canonical_json
from flexzoo.atomic import write_atomically
from flexzoo.errors import FlexzooError

LATEST = "latest.json"
METRICS = "metrics.jsonl"
TENSOR = "__tensor__"


def split_tensors(value: Any, prefix: str = "") -> tuple[Any, dict[str, torch.Tensor]]:
    """Replace every tensor in a nested dict/list by a reference; return the JSON part and the tensors."""
    if isinstance(value, torch.Tensor):
        return {TENSOR: prefix}, {prefix: value.detach().cpu().contiguous()}
    tensors: dict[str, torch.Tensor] = {}
    if isinstance(value, dict):
        plain = {}
        for key, item in value.items():
            plain[str(key)], found = split_tensors(item, f"{prefix}.{key}" if prefix else str(key))
            tensors.update(found)
        return {"__keys__": [_key_json(k) for k in value], "items": plain}, tensors
    if isinstance(value, (list, tuple)):
        items = []
        for index, item in enumerate(value):
            plain_item, found = split_tensors(item, f"{prefix}.{index}")
            items.append(plain_item)
            tensors.update(found)
        return {"__list__": items, "tuple": isinstance(value, tuple)}, tensors
    return value, tensors


def _key_json(key: Any) -> list[Any]:
    return ["int", key] if isinstance(key, int) else ["str", str(key)]


def join_tensors(plain: Any, tensors: dict[str, torch.Tensor]) -> Any:
    """The inverse of :func:`split_tensors`."""
    if isinstance(plain, dict) and TENSOR in plain:
        return tensors[plain[TENSOR]]
    if isinstance(plain, dict) and "__keys__" in plain:
        return {key: join_tensors(plain["items"][str(key)], tensors) for _, key in plain["__keys__"]}
    if isinstance(plain, dict) and "__list__" in plain:
        items = [join_tensors(item, tensors) for item in plain["__list__"]]
        return tuple(items) if plain["tuple"] else items
    return plain


@dataclass
class Checkpoint:
    """What a run needs to continue: weights, optimizer state, and where the loop stood."""

    model: dict[str, torch.Tensor]
    optimizer: dict[str, Any]
    state: dict[str, Any]  # epoch, step, early-stopping state, history, fingerprints


def _save(tensors: dict[str, torch.Tensor], path: Path) -> None:
    write_atomically(path, lambda partial: save_file(tensors, str(partial)))


def save_checkpoint(directory: Path, checkpoint: Checkpoint) -> Path:
    """Write ``directory/epoch-NNNN`` completely, then point ``latest.json`` at it; keep only the newest."""
    directory.mkdir(parents=True, exist_ok=True)
    name = f"epoch-{checkpoint.state['epoch']:04d}"
    partial = directory / f".{name}.{os.getpid()}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir()
    optimizer_plain, optimizer_tensors = split_tensors(checkpoint.optimizer)
    _save(checkpoint.model, partial / "model.safetensors")
    _save(optimizer_tensors, partial / "optimizer.safetensors")
    state = {**checkpoint.state, "optimizer": optimizer_plain}
    write_atomically(partial / "state.json", lambda p: p.write_text(json.dumps(state, indent=1)))
    final = directory / name
    shutil.rmtree(final, ignore_errors=True)  # a stale copy from an earlier, abandoned run
    os.replace(partial, final)
    write_atomically(directory / LATEST, lambda p: p.write_text(canonical_json({"checkpoint": name})))
    for old in directory.iterdir():
        if old.name != name and (old.name.startswith("epoch-") or old.name.endswith(".partial")):
            shutil.rmtree(old, ignore_errors=True)
    return final


def load_checkpoint(directory: Path) -> Checkpoint:
    """The checkpoint ``latest.json`` points at; a FlexzooError says what to do when there is none."""
    latest = directory / LATEST
    if not latest.is_file():
        raise FlexzooError(f"nothing to resume: no checkpoint in {directory}; run `zoo train` without --resume")
    try:
        folder = directory / json.loads(latest.read_text())["checkpoint"]
        state = json.loads((folder / "state.json").read_text())
        model = load_file(str(folder / "model.safetensors"))
        optimizer = join_tensors(state.pop("optimizer"), load_file(str(folder / "optimizer.safetensors")))
    except (OSError, ValueError, KeyError) as exc:
        raise FlexzooError(f"the checkpoint in {directory} cannot be read ({exc}); delete {directory} and train "
                           "again without --resume") from None
    return Checkpoint(model=model, optimizer=optimizer, state=state)


def write_metrics(run_dir: Path, history: list[dict[str, Any]]) -> Path:
    """The run's metrics as JSON lines, one per epoch, replaced atomically."""
    lines = "".join(json.dumps(record) + "\n" for record in history)
    return write_atomically(run_dir / METRICS, lambda path: path.write_text(lines))


class CheckpointWriter:
    """Writes each checkpoint (and the metrics) on a background thread while the next epoch trains.

    One write at a time: submitting waits for the previous one, and leaving the ``with`` block waits
    for the last, so a write error surfaces at most one epoch late. The snapshot handed over must
    not share storage with tensors that training keeps changing.
    """

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="flexzoo-checkpoint")
        self._pending: Future[None] | None = None

    def submit(self, run_dir: Path, checkpoint: Checkpoint) -> None:
        self.wait()
        self._pending = self._pool.submit(self._write, run_dir, checkpoint)

    @staticmethod
    def _write(run_dir: Path, checkpoint: Checkpoint) -> None:
        save_checkpoint(run_dir / "checkpoints", checkpoint)
        write_metrics(run_dir, checkpoint.state["history"])

    def wait(self) -> None:
        """Block until the last submitted checkpoint is on disk (re-raising its error, if any)."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def __enter__(self) -> CheckpointWriter:
        return self

    def __exit__(self, kind: object, error: object, traceback: object) -> None:
        try:
            if kind is None:
                self.wait()
        finally:
            self._pool.shutdown(wait=True)
