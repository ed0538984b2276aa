"""Checkpoints: one safetensors file per run, replaced atomically after every ``checkpoint_every`` epochs.

The model's and the optimizer's tensors are the file's tensors (``model.<name>``, ``optimizer.<path>``);
everything else (the loop's state, the optimizer's non-tensor parts) is JSON in the file's header.
One file written beside its target and renamed over it: a run killed at any moment leaves the
previous checkpoint or the new one, never a mix, with one fsync per epoch.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from flexzoo.atomic import write_atomically
from flexzoo.errors import FlexzooError

CHECKPOINT = "checkpoint.safetensors"
SHARDS_PREFIX = "shards-"  # a sharded run's checkpoint folders (torch.distributed.checkpoint), one per save
METRICS = "metrics.jsonl"
HEADER_KEY = "flexzoo.checkpoint"
TENSOR = "__tensor__"
WRITER_NICENESS = 10  # how much the writer thread yields to training (and to everything else) for the CPU


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


def save_checkpoint(run_dir: Path, checkpoint: Checkpoint) -> Path:
    """Write ``run_dir/checkpoint.safetensors`` atomically."""
    optimizer_plain, optimizer_tensors = split_tensors(checkpoint.optimizer)
    tensors = {f"model.{name}": tensor for name, tensor in checkpoint.model.items()}
    tensors.update({f"optimizer.{name}": tensor for name, tensor in optimizer_tensors.items()})
    header = {HEADER_KEY: json.dumps({"state": checkpoint.state, "optimizer": optimizer_plain})}
    return write_atomically(run_dir / CHECKPOINT, lambda partial: save_file(tensors, str(partial), metadata=header))


def checkpoint_state(run_dir: Path) -> dict[str, Any] | None:
    """The loop state of the run's checkpoint (epoch, step, history...), without its tensors; None if none."""
    try:
        with safe_open(str(run_dir / CHECKPOINT), framework="pt") as file:
            return json.loads(file.metadata()[HEADER_KEY])["state"]
    except (OSError, KeyError, ValueError, TypeError):
        return None


def load_checkpoint(run_dir: Path) -> Checkpoint:
    """The run's checkpoint; a FlexzooError says what to do when there is none or it is unreadable."""
    path = run_dir / CHECKPOINT
    if not path.is_file():
        raise FlexzooError(f"nothing to resume: no checkpoint at {path}; run `zoo train` without --resume")
    try:
        with safe_open(str(path), framework="pt") as file:
            header = json.loads(file.metadata()[HEADER_KEY])
            tensors = {name: file.get_tensor(name) for name in file.keys()}  # noqa: SIM118 - not a dict
    except Exception as exc:
        raise FlexzooError(f"the checkpoint {path} cannot be read ({exc}); delete it and train again without "
                           "--resume") from None
    model = {name.removeprefix("model."): t for name, t in tensors.items() if name.startswith("model.")}
    optimizer = {name.removeprefix("optimizer."): t for name, t in tensors.items() if name.startswith("optimizer.")}
    return Checkpoint(model=model, optimizer=join_tensors(header["optimizer"], optimizer), state=header["state"])


def write_metrics(run_dir: Path, history: list[dict[str, Any]]) -> Path:
    """The run's metrics as JSON lines, one per epoch, replaced atomically."""
    lines = "".join(json.dumps(record) + "\n" for record in history)
    return write_atomically(run_dir / METRICS, lambda path: path.write_text(lines))


def remove_stale_shards(run_dir: Path, keep: str | None) -> None:
    """Delete the shard folders the checkpoint no longer names (older saves, or one a killed run left half-written)."""
    for folder in run_dir.glob(f"{SHARDS_PREFIX}*"):
        if folder.name != keep and folder.is_dir():
            shutil.rmtree(folder, ignore_errors=True)


def _lower_thread_priority() -> None:
    """Raise the calling thread's niceness (Linux schedules threads one by one; elsewhere nothing is done)."""
    if sys.platform == "linux":
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(),
                           os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) + WRITER_NICENESS)


class CheckpointWriter:
    """Writes each checkpoint (and the metrics) on a background thread while the next epoch trains.

    One write at a time: submitting waits for the previous one, and leaving the ``with`` block waits
    for the last, so a write error surfaces at most one epoch late. The snapshot handed over must
    not share storage with tensors that training keeps changing. The thread runs at a lower
    priority, so that on a busy machine it takes the CPU that training leaves.
    """

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="flexzoo-checkpoint",
                                        initializer=_lower_thread_priority)
        self._pending: Future[Any] | None = None

    def submit(self, run_dir: Path, checkpoint: Checkpoint) -> None:
        """Write ``checkpoint`` and the metrics of its history."""
        self.wait()
        self._pending = self._pool.submit(self._write, run_dir, checkpoint)

    def submit_metrics(self, run_dir: Path, history: list[dict[str, Any]]) -> None:
        """Write the metrics alone (an epoch that is not checkpointed)."""
        self.wait()
        self._pending = self._pool.submit(write_metrics, run_dir, list(history))

    @staticmethod
    def _write(run_dir: Path, checkpoint: Checkpoint) -> None:
        save_checkpoint(run_dir, checkpoint)
        write_metrics(run_dir, checkpoint.state["history"])
        remove_stale_shards(run_dir, keep=checkpoint.state.get("shards"))

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
