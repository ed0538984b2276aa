"""The front door: build a model from a manifest, train it, save it as an artifact, load it back, export it.

Each function is a thin wrapper over :mod:`flexzoo.pipeline.stages`, which owns the order of stages, so
the Python API and the ``zoo`` verbs give the same results. Importing this module does not import
torch; the pipeline is imported on first use.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from flexzoo.host.registry import Registry, default_registry
from flexzoo.manifest.resolved import ResolvedManifest
from flexzoo.manifest.validation import load_manifest
from flexzoo.plugin.components import RegisteredComponent

if TYPE_CHECKING:
    from flexzoo.assembly.builder import ZooModel
    from flexzoo.pipeline.stages import TrainResult

__all__ = ["build", "export", "list_components", "load", "save", "train"]


def _resolved(manifest: str | Path | ResolvedManifest, registry: Registry) -> ResolvedManifest:
    return manifest if isinstance(manifest, ResolvedManifest) else load_manifest(manifest, registry)


def list_components(kind: str | None = None, pattern: str | None = None) -> list[RegisteredComponent]:
    """Installed components, optionally of one kind and matching a shell wildcard (no torch import)."""
    return default_registry().components(kind, pattern)


def build(manifest: str | Path | ResolvedManifest, registry: Registry | None = None, *,
          report: str = "none") -> ZooModel:
    """Validate a manifest (a path or a resolved manifest), then build, initialize and compress its model.

    :param report: "eager" or "compiled" measures the [[compress]] steps' effect (see ``flexzoo.reporting.report``);
        ``flexzoo.save`` stores the report in the artifact and its model card.
    """
    from flexzoo.pipeline import stages as pipeline

    registry = registry or default_registry()
    return pipeline.build(_resolved(manifest, registry), registry, report=report)


def save(model: ZooModel, out_dir: str | Path, registry: Registry | None = None, *, export: bool = True) -> Path:
    """Write a model built by :func:`build` (or :func:`load`) as ``<out_dir>/<name>.safetensors``, atomically.

    :param export: also write the formats the manifest's ``[export]`` section asks for, beside it, as
        ``zoo build`` does.
    """
    from flexzoo.pipeline import stages as pipeline

    return pipeline.save(model, out_dir, registry, export=export).artifact


def load(path: str | Path, registry: Registry | None = None, *, device: str | None = None) -> ZooModel:
    """Rebuild the model stored at ``path``, in eval mode, with the weights it was saved with.

    ``path`` may be ``"hf-hub:ORG/NAME[@REVISION]"``: an artifact shared with ``zoo push``, pulled into
    the Hugging Face cache (``HF_HUB_OFFLINE=1`` reads the cache only) and verified like a local file.
    The model is built on the meta device and given the file's tensors, memory-mapped and verified
    as they are read: no initializer runs and the weights are not copied. ``device="cuda"`` puts
    them straight on the GPU.

    Refuses, with an ArtifactError or PluginError, a file that is not a flexzoo artifact, one whose
    weights or metadata do not match their hashes, and one whose plugins are missing or incompatible.
    """
    from flexzoo.pipeline import stages as pipeline

    return pipeline.load(path, registry, device=device)


def train(manifest: str | Path | ResolvedManifest, out_dir: str | Path = "out", registry: Registry | None = None, *,
          resume: bool = False, show_progress: bool = False) -> TrainResult:
    """Train the model of a manifest with a ``[train]`` section; write ``<out_dir>/<name>.safetensors`` (rank 0)
    and the formats its ``[export]`` section asks for."""
    from flexzoo.pipeline import stages as pipeline

    registry = registry or default_registry()
    return pipeline.train(_resolved(manifest, registry), out_dir, registry, resume=resume,
                          show_progress=show_progress)


def export(model: ZooModel, artifact: str | Path, formats: list[str] | None = None,
           out_dir: str | Path | None = None, **options: Any) -> list[dict[str, Any]]:
    """Export a built or loaded model (default formats: its ``[export]`` section's, else onnx).

    Files are named after ``artifact`` and written beside it (or in ``out_dir``); each is loaded
    back and compared with the model (``tolerance``, default 1e-4).
    """
    from flexzoo.pipeline import stages as pipeline

    return pipeline.export(model, artifact, formats, out_dir, **options)
