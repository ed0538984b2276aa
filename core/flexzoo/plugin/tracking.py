"""Watching a training run: the :class:`RunInfo` the run hooks receive (no torch, no host imports here).

The ``[track]`` section is checked by :mod:`flexzoo.manifest.validation` (``TRACK_KEYS``).

The host calls the run hooks (``flexzoo_run_start``, ``flexzoo_epoch_end``, ``flexzoo_run_end``) on rank 0
only, for every plugin; a tracker plugin logs when ``[track] use`` names it (:meth:`RunInfo.tracks`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["RUN_HOOKS", "RunInfo", "epoch_metrics", "flatten"]

#: The lifecycle hooks of a training run; a plugin named in ``[track] use`` must implement one.
RUN_HOOKS = ("flexzoo_run_start", "flexzoo_epoch_end", "flexzoo_run_end")

def flatten(table: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"train": {"lr": 0.1}}`` -> ``{"train.lr": 0.1}``; arrays of tables are indexed (``init.0.use``)."""
    flat: dict[str, Any] = {}
    for key, value in table.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{path}."))
        elif isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
            for index, item in enumerate(value):
                flat.update(flatten(item, f"{path}.{index}."))
        else:
            flat[path] = value
    return flat


def epoch_metrics(record: Mapping[str, Any]) -> dict[str, float]:
    """One ``metrics.jsonl`` record as flat scalars: ``train/loss``, ``lr``, ``validation/<metric>``, ``seconds``."""
    metrics = {"train/loss": float(record["train_loss"]), "lr": float(record["lr"])}
    metrics.update({f"validation/{name}": float(value) for name, value in record["validation"].items()})
    metrics["seconds"] = float(record["seconds"])
    return metrics


@dataclass(frozen=True)
class RunInfo:
    """What the run hooks know of a run: name, where it writes, the resolved manifest, the tracking settings.

    :param name: the model's name (``[model] name``), also the default experiment.
    :param run_dir: the run's own folder (``<out>/<name>.train``), where file-based trackers write.
    :param out_dir: the output folder the artifact goes to.
    :param manifest: the resolved manifest (every default filled) in manifest shape.
    :param track: the resolved ``[track]`` section (``use``, ``experiment``, ``tracking_uri``, ``log_artifact``,
        and each tracker component's settings as a table of its name: :meth:`settings`).
    :param rank: always 0: only rank 0 reports a run. ``world_size`` is the number of ranks training.
    :param epochs: the planned number of epochs; ``first_epoch`` is 1, or the next epoch after a resume.
    """

    name: str
    run_dir: Path
    out_dir: Path
    manifest: Mapping[str, Any]
    track: Mapping[str, Any] = field(default_factory=dict)
    rank: int = 0
    world_size: int = 1
    epochs: int = 0
    first_epoch: int = 1

    def settings(self, tracker: str) -> dict[str, Any]:
        """The tracker's own settings: its ``[track.<tracker>]`` table, every default filled (``{}`` without one)."""
        return dict(self.track.get(tracker) or {})

    def tracks(self, plugin: str) -> bool:
        """Whether ``[track] use`` names ``plugin``: trackers log only runs that ask for them."""
        return plugin in self.track.get("use", ())

    @property
    def experiment(self) -> str:
        return self.track.get("experiment") or self.name

    @property
    def params(self) -> dict[str, Any]:
        """The resolved manifest as flat ``section.key`` parameters (``train.lr``, ``backbone.channels``)."""
        return flatten(self.manifest)
