"""Rebuilding a model from an artifact: verify, check plugins, rebuild from the manifest, load."""

from __future__ import annotations

from pathlib import Path

from safetensors.torch import load_file

from flexzoo.artifact.format import check_plugins, read_artifact, verify_weights_digest
from flexzoo.artifact.write import weights_sha256
from flexzoo.assembly import ZooModel, build_model
from flexzoo.errors import ArtifactError, ManifestError
from flexzoo.registry import Registry, default_registry
from flexzoo.restoring import weights_restored_afterwards
from flexzoo.validation import revalidate


def load(path: str | Path, registry: Registry | None = None) -> ZooModel:
    """Rebuild the model stored at ``path``, in eval mode, with the weights it was saved with.

    Refuses, with an ArtifactError or PluginError, a file that is not a flexzoo artifact, one whose
    weights or metadata do not match their hashes, and one whose plugins are missing or incompatible.
    """
    registry = registry or default_registry()
    artifact = read_artifact(path, verify_weights=False)  # checked on the loaded tensors: one read of the file
    check_plugins(artifact, {p.name: (p.status, p.distribution, p.version) for p in registry.plugins})
    try:
        tensors = load_file(str(artifact.path))
    except Exception as exc:  # safetensors' own error for data it cannot decode
        raise ArtifactError(f"{artifact.path}: corrupt safetensors data: {exc}") from exc
    verify_weights_digest(artifact.path, weights_sha256(tensors), artifact.weights_sha256)
    try:
        manifest = revalidate(artifact.manifest, f"{artifact.path} (stored manifest)", registry)
        steps = artifact.compression_steps
        records = [step["record"] for step in steps] if steps else None
        with weights_restored_afterwards():  # the stored weights replace what factories would load
            model = build_model(manifest, registry, records=records)
    except ManifestError as exc:
        raise ArtifactError(f"{artifact.path}: the stored manifest no longer builds here:\n{exc}") from exc
    except (ValueError, KeyError, RuntimeError, AttributeError) as exc:  # a step could not use its record
        raise ArtifactError(f"{artifact.path}: a compression step cannot rebuild its structure from the record "
                            f"stored in the artifact ({type(exc).__name__}: {exc}); rebuild the artifact with the "
                            "installed plugins") from exc
    packed = False
    for step, record in reversed(list(zip(model.compression_steps, steps))):
        if record.get("packing") is not None:
            tensors = step.unpack(tensors, record["packing"])
            packed = True
    missing, unexpected = sorted(set(model.state_dict()) - set(tensors)), sorted(set(tensors) - set(model.state_dict()))
    if missing or unexpected:
        raise ArtifactError(f"{artifact.path}: weights do not fit the rebuilt model "
                            f"(missing {missing[:5]}, unexpected {unexpected[:5]})")
    try:
        model.load_state_dict(tensors, strict=True, assign=packed)  # unpacked tensors replace, as they are
    except RuntimeError as exc:
        raise ArtifactError(f"{artifact.path}: weights do not fit the rebuilt model: {exc}") from exc
    return model.eval()
