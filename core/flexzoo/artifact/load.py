"""Reading an artifact's weights once, verified: plugins checked, tensors loaded, their sha256 compared."""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file

from flexzoo.artifact.format import ArtifactInfo, check_plugins, read_artifact, verify_weights_digest
from flexzoo.artifact.write import weights_sha256
from flexzoo.errors import ArtifactError
from flexzoo.registry import Registry

__all__ = ["read_weights"]


def read_weights(path: str | Path, registry: Registry) -> tuple[ArtifactInfo, dict[str, torch.Tensor]]:
    """The artifact's metadata and its tensors, read once and checked against the recorded hashes.

    Refuses, with an ArtifactError or PluginError, a file that is not a flexzoo artifact, one whose
    weights or metadata do not match their hashes, and one whose plugins are missing or incompatible.
    """
    artifact = read_artifact(path, verify_weights=False)  # checked on the loaded tensors: one read of the file
    check_plugins(artifact, {p.name: (p.status, p.distribution, p.version) for p in registry.plugins})
    try:
        tensors = load_file(str(artifact.path))
    except Exception as exc:  # safetensors' own error for data it cannot decode
        raise ArtifactError(f"{artifact.path}: corrupt safetensors data: {exc}") from exc
    verify_weights_digest(artifact.path, weights_sha256(tensors), artifact.weights_sha256)
    return artifact, tensors
