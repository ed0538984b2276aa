"""What an artifact holds, read back for a test's assertions: manifest, info, card, hashes."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flexzoo.artifact.format import ArtifactInfo

__all__ = ["read_artifact"]


def read_artifact(path: str | Path, *, verify_weights: bool = True) -> ArtifactInfo:
    """The artifact at ``path`` as ``zoo inspect`` reads it: its resolved ``manifest``, ``info`` (plugins, versions,
    training record, ``extra`` metadata), ``card`` and ``weights_sha256``, each checked against its stored hash.

    :param verify_weights: also hash the weights and compare (set False to read a large artifact's metadata only).
    :raises flexzoo.ArtifactError: when the file is no flexzoo artifact or a hash does not match.
    """
    from flexzoo.artifact.format import read_artifact as read

    return read(path, verify_weights=verify_weights)
