"""TensorBoard for flexzoo runs: scalars per epoch and the resolved manifest as hyperparameters.

Logs a run when its manifest says ``[track] use = ["tensorboard"]``, into ``<run_dir>/tensorboard``
(``<out>/<name>.train/tensorboard``): ``tensorboard --logdir out`` shows every run. Only rank 0 logs
(the host calls the run hooks there alone). Cheap to import: torch and tensorboard load when a run starts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from flexzoo.plugin import RunInfo, hookimpl

FLEXZOO_PLUGIN_API = 2
NAME = "tensorboard"

_writers: dict[Path, Any] = {}  # one SummaryWriter per run directory


def log_dir(run: RunInfo) -> Path:
    """Where a run's event files go: ``<run_dir>/tensorboard``."""
    return run.run_dir / "tensorboard"


@hookimpl
def flexzoo_run_start(run: RunInfo) -> None:
    if not run.tracks(NAME):
        return
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(log_dir=str(log_dir(run)), purge_step=run.first_epoch if run.first_epoch > 1 else None)
    writer.add_text("manifest", "\n".join(f"    {key} = {value!r}" for key, value in sorted(run.params.items())), 0)
    _writers[run.run_dir] = writer


@hookimpl
def flexzoo_epoch_end(run: RunInfo, epoch: int, metrics: Mapping[str, float]) -> None:
    writer = _writers.get(run.run_dir)
    if writer is None:
        return
    for name, value in metrics.items():
        writer.add_scalar(name, value, epoch)


@hookimpl
def flexzoo_run_end(run: RunInfo, history: Sequence[Mapping[str, Any]], status: str) -> None:
    writer = _writers.pop(run.run_dir, None)
    if writer is None:
        return
    if history:
        final = {f"hparam/{name}": value for name, value in history[-1]["validation"].items()}
        hparams = {key: value if isinstance(value, (int, float, str, bool)) else str(value)
                   for key, value in run.params.items()}
        writer.add_hparams(hparams, {**final, "hparam/epochs": float(len(history))}, run_name=".")
    writer.add_text("status", status, len(history))
    writer.close()
