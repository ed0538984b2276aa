"""A manifest's ``[train]`` data, loaded as ``zoo train`` loads it, without training anything.

::

    from flexzoo.testing import load_training_data

    data = load_training_data(path)                  # or a Manifest, or a validated manifest
    data.inputs, data.targets["digit"], data.train_index, data.validation_index
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from flexzoo.testing.manifests import Manifest

if TYPE_CHECKING:
    from flexzoo.host.registry import Registry
    from flexzoo.manifest.resolved import ResolvedManifest

__all__ = ["load_training_data", "resolved"]


def resolved(manifest: str | Path | Manifest | ResolvedManifest, registry: Registry | None = None,
             directory: str | Path | None = None) -> ResolvedManifest:
    """``manifest`` validated: a file's path, a :class:`Manifest` (written to ``directory`` first: relative
    paths in it, such as ``data = "arrays:train.npz"``, are read from there), or an already validated one.
    """
    from flexzoo.manifest.validation import load_manifest

    if isinstance(manifest, Manifest):
        if directory is None:
            raise TypeError("a Manifest is written before it is read: give directory= (its relative paths' base)")
        manifest = manifest.write(Path(directory) / "model.toml")
    if isinstance(manifest, (str, Path)):
        return load_manifest(manifest, registry)
    return manifest


def load_training_data(manifest: str | Path | Manifest | ResolvedManifest, registry: Registry | None = None, *,
                       directory: str | Path | None = None) -> Any:
    """The ``[train]`` data of ``manifest`` as training reads it: split, preprocessed, with its class names.

    :param manifest: a manifest file, a :class:`Manifest` (with ``directory``) or a validated manifest.
    :param registry: the plugins to resolve the data source with (default: the installed ones).
    :param directory: where a :class:`Manifest` is written before it is read.
    :returns: the data set training would iterate (``inputs``, ``targets``, ``train_index``,
        ``validation_index``, ``fingerprint``, ``batches(...)``).
    :raises flexzoo.ManifestError: when the manifest has no ``[train]`` section or its data cannot be read.
    """
    from flexzoo.errors import ManifestError
    from flexzoo.pipeline.stages import Pipeline

    valid = resolved(manifest, registry, directory)
    if valid.train is None:
        where = valid.where()
        raise ManifestError(where.file, [where.problem("train", "there is no [train] section to load data from",
                                                       'add [train] with data = "..."')])
    return Pipeline(valid, registry).training_data()
