"""A run's hooks and where it keeps its files: what ``flexzoo_run_start``, ``flexzoo_epoch_end`` and
``flexzoo_run_end`` are told, from the trainer's rank 0."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flexzoo.artifact.format import canonical_json
from flexzoo.errors import FlexzooError
from flexzoo.plugin.tracking import RunInfo, epoch_metrics

if TYPE_CHECKING:
    from flexzoo.host.registry import Registry
    from flexzoo.manifest.resolved import ResolvedManifest
    from flexzoo.manifest.train import TrainConfig

__all__ = ["RunHooks", "manifest_fingerprint", "run_directory"]


def run_directory(out_dir: str | Path, manifest: ResolvedManifest) -> Path:
    """Where a run keeps its checkpoint and metrics: ``<out_dir>/<name>.train``."""
    return Path(out_dir) / f"{manifest.model.name}.train"


def manifest_fingerprint(manifest: ResolvedManifest) -> str:
    """The sha256 of the resolved manifest: a checkpoint resumes only the run it came from."""
    return hashlib.sha256(canonical_json(manifest.to_dict()).encode()).hexdigest()


class RunHooks:
    """The run hooks (``flexzoo_run_start``, ``flexzoo_epoch_end``, ``flexzoo_run_end``), for the trainer's rank 0."""

    def __init__(self, registry: Registry, manifest: ResolvedManifest, train: TrainConfig | None,
                 out_dir: str | Path) -> None:
        self.registry = registry
        self.hook = registry.manager.hook
        self.manifest = manifest
        self.epochs = train.epochs if train is not None else 0
        self.out_dir = Path(out_dir)
        self.run: RunInfo | None = None  # set on rank 0 when the run starts
        self.history: list[dict[str, Any]] = []
        self.trackers: dict[str, Any] = {}  # qualified name -> the Tracker its factory made for this run

    def started(self, world_size: int, first_epoch: int) -> None:
        manifest = self.manifest
        track = manifest.track or {}
        self.run = RunInfo(name=manifest.model.name, run_dir=run_directory(self.out_dir, manifest),
                           out_dir=self.out_dir, manifest=manifest.to_dict(), track=track,
                           world_size=world_size, epochs=self.epochs,
                           first_epoch=first_epoch)
        for name in track.get("use", ()):
            if name in self.registry.names("tracker"):
                found = self.registry.resolve("tracker", name)
                self.trackers[found.qualified_name] = self._call(found.qualified_name, "its factory",
                                                                 found.component.factory, **track.get(name, {}))
        self.hook.flexzoo_run_start(run=self.run)
        self._tell("run_start", run=self.run)

    def epoch_ended(self, record: dict[str, Any]) -> None:
        self.history.append(record)
        self.hook.flexzoo_epoch_end(run=self.run, epoch=record["epoch"], metrics=epoch_metrics(record))
        self._tell("epoch_end", run=self.run, epoch=record["epoch"], metrics=epoch_metrics(record))

    def ended(self, artifact: Path | None, history: list[dict[str, Any]] | None = None) -> None:
        """Tell the plugins the run is over (``artifact`` None: it failed); nothing when it never started here."""
        if self.run is not None:
            status = "finished" if artifact is not None else "failed"
            self.hook.flexzoo_run_end(run=self.run, artifact=artifact, history=history or self.history, status=status)
            self._tell("run_end", run=self.run, artifact=artifact, history=history or self.history, status=status)

    def _tell(self, method: str, **arguments: Any) -> None:
        """Call ``method`` of each tracker that has it."""
        for name, tracker in self.trackers.items():
            call = getattr(tracker, method, None)
            if call is not None:
                self._call(name, method, call, **arguments)

    @staticmethod
    def _call(name: str, what: str, call: Any, **arguments: Any) -> Any:
        """A tracker's call; its failure is named with the tracker, never an internal error of the host."""
        try:
            return call(**arguments)
        except FlexzooError:
            raise
        except Exception as exc:
            raise FlexzooError(f"tracker `{name}` failed in {what}: {type(exc).__name__}: {exc}; fix the tracker "
                               "plugin, or leave it out of [track] use") from exc
