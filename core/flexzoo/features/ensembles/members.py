"""Ensemble members given as manifests: each one built (or trained) into the ensemble's output folder first.

``zoo build`` and ``zoo train`` of an ensemble call :func:`with_member_artifacts` before any stage:
every pending member (``members = ["b.toml"]``, and each ``[ensemble.bagging]`` member) is made by
``make`` (the pipeline's own build, or train when the member has ``[train]``) into
``<out>/<ensemble name>.members/<member name>.safetensors``, written atomically. The manifest handed
on then names each artifact, its weights' sha256 and its stored manifest, exactly as for a member
given as an artifact, so the ensemble's artifact embeds the member and loads without its file.

An artifact already there is reused instead of made again when its stored manifest is the member's
resolved manifest and, for a trained member, its recorded data fingerprint is the data's now. A
member whose training changes its manifest (``[[train.grow]]``) or that is itself an ensemble of
manifests is made again each time.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from pathlib import Path

from flexzoo.artifact.format import artifact_path, canonical_json, read_artifact
from flexzoo.errors import FlexzooError, ManifestError
from flexzoo.host.registry import Registry
from flexzoo.manifest.resolved import EnsembleMember, ResolvedManifest
from flexzoo.manifest.validation import revalidate

__all__ = ["members_folder", "with_member_artifacts"]

#: Makes a member's artifact in a folder and returns its path: the pipeline's build, or train.
Make = Callable[[ResolvedManifest, Path], Path]
#: The fingerprint of a member's [train] data as it is now (read only to decide whether to reuse).
DataFingerprint = Callable[[ResolvedManifest], str]


def members_folder(out_dir: str | Path, manifest: ResolvedManifest) -> Path:
    """Where an ensemble's members given as manifests are built: ``<out_dir>/<name>.members``."""
    return Path(out_dir) / f"{manifest.model.name}.members"


def with_member_artifacts(manifest: ResolvedManifest, out_dir: str | Path, make: Make,
                          data_fingerprint: DataFingerprint, registry: Registry) -> ResolvedManifest:
    """``manifest`` with each pending ``[ensemble]`` member made and resolved to its artifact (unchanged if none)."""
    ensemble = manifest.ensemble
    if ensemble is None or not any(member.pending for member in ensemble.members):
        return manifest
    folder = members_folder(out_dir, manifest)
    members = tuple(_made(member, folder, manifest, make, data_fingerprint, registry) if member.pending else member
                    for member in ensemble.members)
    return dataclasses.replace(manifest, ensemble=dataclasses.replace(ensemble, members=members))


def _made(member: EnsembleMember, folder: Path, ensemble: ResolvedManifest, make: Make,
          data_fingerprint: DataFingerprint, registry: Registry) -> EnsembleMember:
    target = artifact_path(folder, member.manifest.model.name)
    if not _reusable(target, member.manifest, data_fingerprint):
        target = make(member.manifest, folder)
    artifact = read_artifact(target, verify_weights=False)  # verified as the ensemble copies the weights in
    try:
        stored = revalidate(artifact.manifest, f"{target} (stored manifest)", registry)
    except ManifestError as exc:  # a member that changed while it trained (growth) into something unusable
        raise ManifestError(ensemble.file, [ensemble.where().problem(
            "ensemble.members", f"the artifact built from `{member.source}` does not validate: {exc}")]) from None
    base = Path(ensemble.file).parent
    return EnsembleMember(source=os.path.relpath(target, base), weights_sha256=artifact.weights_sha256,
                          manifest=stored)


def _reusable(target: Path, manifest: ResolvedManifest, data_fingerprint: DataFingerprint) -> bool:
    """Whether ``target`` holds what making ``manifest`` would make again (same manifest, same data)."""
    if not target.is_file():
        return False
    try:
        artifact = read_artifact(target)  # weights verified too: a damaged file is made again
    except FlexzooError:
        return False
    if canonical_json(artifact.manifest) != canonical_json(manifest.to_dict()):
        return False
    if manifest.train is None:
        return True
    recorded = artifact.info.get("training", {}).get("data", {}).get("sha256")
    return recorded is not None and recorded == data_fingerprint(manifest)
