"""Every external reference of a manifest, resolved: what ``zoo lock``, ``zoo fetch`` and ``zoo cache verify`` walk.

A reference is a ``pretrained`` value a backbone's plugin declares through ``flexzoo_pretrained_source``
(files in the Hugging Face or torch.hub cache), or a local file or folder a manifest names by path: a
``pretrained`` or ONNX file, ``[backbone] from``, an ``[ensemble]`` member, ``[train] data``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from flexzoo._version import __version__
from flexzoo.errors import FlexzooError, ManifestError, ParameterError
from flexzoo.host.registry import Registry
from flexzoo.hub.cache import Fetched, fetch_file, hub_cache_dir, torch_checkpoints_dir
from flexzoo.hub.digest import file_sha256, tree_sha256
from flexzoo.hub.lock import Lock, LockedFile
from flexzoo.hub.references import is_hub_reference
from flexzoo.hub.sources import PretrainedSource
from flexzoo.manifest.resolved import ComponentSpec, ResolvedManifest

__all__ = ["ManifestReference", "cached_path", "lock_manifest", "manifest_references", "pretrained_source"]

HOOK = "flexzoo_pretrained_source"


@dataclass(frozen=True)
class ManifestReference:
    """One external reference: its manifest key, the value written, and a plugin's source or a local path."""

    key: str
    reference: str
    source: PretrainedSource | None = None
    path: Path | None = None


def pretrained_source(spec: ComponentSpec, reference: Any, registry: Registry) -> PretrainedSource | None:
    """Ask the plugin that offers ``spec`` (and only it) where its ``pretrained`` reference comes from."""
    manager = registry.manager
    others = [plugin for name, plugin in manager.list_name_plugin() if name != spec.plugin and plugin is not None]
    call = manager.subset_hook_caller(HOOK, remove_plugins=others)
    return call(component=spec.name, reference=reference, parameters=dict(spec.params))


def manifest_references(manifest: ResolvedManifest, registry: Registry) -> list[ManifestReference]:
    """Every external reference, in manifest order; a plugin's refusal is a ManifestError at its key."""
    return list(_references(manifest, registry))


def _references(manifest: ResolvedManifest, registry: Registry) -> Iterator[ManifestReference]:
    base = Path(manifest.file).parent
    for spec in manifest.components():
        for name, value in spec.params.items():
            key = f"{spec.key}.{name}"
            if name == "pretrained" and spec.kind == "backbone" and value not in (None, False):
                try:
                    source = pretrained_source(spec, value, registry)
                except ParameterError as exc:
                    where = manifest.where()
                    raise ManifestError(where.file, [where.problem(key, f"{spec.use}: {exc}", exc.hint)]) from None
                if source is not None:
                    yield ManifestReference(key, source.reference, source=source)
                    continue
            path = _local_path(value, base)
            if path is not None:
                yield ManifestReference(key, value, path=path)
        if spec.weights_from is not None:
            reference = _artifact_reference(f"{spec.key}.from", spec.weights_from, base)
            if reference is not None:
                yield reference
    for index, member in enumerate(manifest.ensemble.members if manifest.ensemble else ()):
        reference = _artifact_reference(f"ensemble.members[{index}]", member.source, base)
        if reference is not None:
            yield reference
    if manifest.train and isinstance(manifest.train.get("data"), str):
        from flexzoo.manifest.train import data_source

        _, location = data_source(manifest.train["data"])
        path = _local_path(location, base) if location else None
        if path is not None:
            yield ManifestReference("train.data", manifest.train["data"], path=path)


def _artifact_reference(key: str, value: Any, base: Path) -> ManifestReference | None:
    """An artifact a manifest names: on the Hub (pinned like pretrained weights), or a local file."""
    if isinstance(value, str) and is_hub_reference(value):
        from flexzoo.hub.artifacts import artifact_source

        return ManifestReference(key, value, source=artifact_source(value))
    path = _local_path(value, base)
    return ManifestReference(key, value, path=path) if path is not None else None


def _local_path(value: Any, base: Path) -> Path | None:
    """A string naming an existing file or folder (from the manifest's folder, else the working directory)."""
    if not isinstance(value, str) or not value or is_hub_reference(value) or not ("/" in value or Path(value).suffix):
        return None
    for candidate in (base / Path(value).expanduser(), Path(value).expanduser()):
        if candidate.exists():
            return candidate
    return None


def _relative(path: Path, base: Path) -> str:
    resolved, root = path.resolve(), base.resolve()
    return resolved.relative_to(root).as_posix() if resolved.is_relative_to(root) else str(resolved)


def locked_files(reference: ManifestReference, base: Path) -> list[LockedFile]:
    """The reference's files, fetched (or found in the cache) and hashed."""
    if reference.path is not None:
        path = reference.path
        sha, size = tree_sha256(path) if path.is_dir() else file_sha256(path)
        return [LockedFile(key=reference.key, reference=reference.reference, file=path.name, sha256=sha, size=size,
                           path=_relative(path, base))]
    assert reference.source is not None
    return [_locked(reference, fetch_file(file)) for file in reference.source.files]


def _locked(reference: ManifestReference, fetched: Fetched) -> LockedFile:
    sha, size = file_sha256(fetched.path)
    file = fetched.file
    return LockedFile(key=reference.key, reference=reference.reference, file=file.filename, sha256=sha, size=size,
                      repository=file.repo_id or "", revision=(file.revision or "main") if file.repo_id else "",
                      commit=fetched.commit or "", url=file.url or "")


def lock_manifest(manifest: ResolvedManifest, registry: Registry, previous: Lock | None = None) -> Lock:
    """The manifest's lock: each reference resolved and hashed; entries of ``previous`` that still apply are kept.

    With no ``previous`` (``zoo lock --upgrade``, or a first lock) every reference is resolved again.
    """
    base = Path(manifest.file).parent
    kept = {entry.identity(): entry for entry in previous.files} if previous is not None else {}
    files: list[LockedFile] = []
    for reference in manifest_references(manifest, registry):
        if reference.source is not None:
            pinned = [kept.get((reference.key, f.repo_id or f.url or "", f.filename, reference.reference))
                      for f in reference.source.files]
            if all(pinned):
                files += [entry for entry in pinned if entry is not None]
                continue
        files += locked_files(reference, base)
    plugins = {}
    for name in manifest.plugins():
        plugin = registry.plugin(name)
        if plugin is not None and plugin.distribution:
            plugins[name] = {"distribution": plugin.distribution, "version": plugin.version or ""}
    return Lock(manifest=Path(manifest.file).name, files=files, versions=_versions(plugins), plugins=plugins)


def _versions(plugins: dict[str, dict[str, str]]) -> dict[str, str]:
    """flexzoo, Python, huggingface_hub and every installed library the manifest's plugins require."""
    import platform

    names = {"huggingface_hub", "torch"}
    for plugin in plugins.values():
        for requirement in metadata.requires(plugin["distribution"]) or []:
            if _applies(requirement):
                names.add(_requirement_name(requirement))
    versions = {"flexzoo": __version__, "python": platform.python_version()}
    for name in sorted(names - {"flexzoo"}):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def _applies(requirement: str) -> bool:
    """Whether a requirement is installed for this Python (no extra, and its marker holds)."""
    marker = requirement.partition(";")[2].strip()
    if not marker:
        return True
    if "extra" in marker:
        return False
    try:
        from packaging.markers import Marker
    except ImportError:  # without packaging, leave conditional requirements out
        return False
    return Marker(marker).evaluate()


def _requirement_name(requirement: str) -> str:
    for stop in "<>=!~;[ (":
        requirement = requirement.split(stop)[0]
    return requirement.strip().lower().replace("_", "-") if "-" in requirement else requirement.strip().lower()


def cached_path(entry: LockedFile, base: Path) -> Path:
    """Where a locked file is in its cache (its pinned commit's snapshot) or on disk."""
    if entry.path:
        return base / entry.path
    if entry.url:
        return torch_checkpoints_dir() / entry.file
    folder = "models--" + entry.repository.replace("/", "--")
    return hub_cache_dir() / folder / "snapshots" / entry.commit / entry.file


def read_lock_or_manifest(path: str | Path) -> Lock:
    """A lock from its path, or from a manifest's path (the lock beside it)."""
    from flexzoo.hub.lock import lock_path

    path = Path(path)
    if path.suffix != ".lock":
        path = lock_path(path)
    if not path.is_file():
        raise FlexzooError(f"{path}: no such lock file; run `zoo lock {str(path)[:-len('.lock')]}` first")
    return Lock.read(path)


def environment_note() -> str:
    """Where the caches are, for the commands' output."""
    return (f"Hugging Face cache {hub_cache_dir()} (HF_HUB_CACHE / HF_HOME), torch.hub cache "
            f"{os.environ.get('TORCH_HOME') or '~/.cache/torch'}/hub/checkpoints (TORCH_HOME)")
