"""The front door: build a model from a manifest, save it as an artifact, load it back."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from flexzoo.components import RegisteredComponent
from flexzoo.manifest import ResolvedManifest
from flexzoo.registry import Registry, default_registry
from flexzoo.validation import load_manifest

if TYPE_CHECKING:
    from flexzoo.assembly import ZooModel
    from flexzoo.training.trainer import TrainResult


def list_components(kind: str | None = None, pattern: str | None = None) -> list[RegisteredComponent]:
    """Installed components, optionally of one kind and matching a shell wildcard (no torch import)."""
    return default_registry().components(kind, pattern)


def build(manifest: str | Path | ResolvedManifest, registry: Registry | None = None, *,
          report: str = "none") -> ZooModel:
    """Validate a manifest (a path or a resolved manifest), then build, initialize and compress its model.

    :param report: "eager" or "compiled" measures the [[compress]] steps' effect (see ``flexzoo.report``);
        ``flexzoo.save`` stores the report in the artifact and its model card.
    """
    from flexzoo.assembly import build_model

    registry = registry or default_registry()
    resolved = manifest if isinstance(manifest, ResolvedManifest) else load_manifest(manifest, registry)
    return build_model(resolved, registry, report=report)


def save(model: ZooModel, out_dir: str | Path, registry: Registry | None = None) -> Path:
    """Write a model built by :func:`build` as ``<out_dir>/<name>.safetensors``, atomically."""
    from flexzoo.artifact.write import write_artifact

    manifest = getattr(model, "manifest", None)
    if not isinstance(manifest, ResolvedManifest):
        raise TypeError("save() needs a model made by flexzoo.build() or flexzoo.load()")
    return write_artifact(model, manifest, out_dir, registry or default_registry())


def train(manifest: str | Path | ResolvedManifest, out_dir: str | Path = "out", registry: Registry | None = None, *,
          resume: bool = False, show_progress: bool = False) -> TrainResult:
    """Train the model of a manifest with a ``[train]`` section; write ``<out_dir>/<name>.safetensors`` (rank 0)."""
    from flexzoo.training.trainer import train as run_training

    registry = registry or default_registry()
    resolved = manifest if isinstance(manifest, ResolvedManifest) else load_manifest(manifest, registry)
    return run_training(resolved, out_dir, registry, resume=resume, show_progress=show_progress)
