"""Transfer learning: ``[backbone] from = "artifact"`` reuses a trained backbone, ``freeze`` fixes parts of it.

This is the manifest side, torch-free: a backbone table with ``from`` and no ``use`` takes its
component and parameters from the artifact's stored manifest (and ``[model] input_shape`` when the
manifest has none). When the model is built (``flexzoo.pipeline.transfer``), the artifact's backbone
weights replace the initialized ones, and so do the weights of every head whose name and component
are the same in both manifests: an artifact is rebuilt with heads added or removed, keeping what stayed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flexzoo.artifact.format import read_artifact
from flexzoo.errors import FlexzooError
from flexzoo.hub.artifacts import artifact_file
from flexzoo.hub.references import is_hub_reference
from flexzoo.manifest import schema

#: Keys of [backbone] that belong to the host, not to the backbone's factory.
TRANSFER_KEYS = ("from", "freeze")


class TransferProblem(FlexzooError):
    """A ``from`` or ``freeze`` value that cannot be used; carries the manifest key and a fix."""

    def __init__(self, key: str, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.key = key
        self.message = message
        self.hint = hint


def artifact_location(reference: str, manifest_file: str) -> Path:
    """Where ``from`` points: relative paths are relative to the manifest's directory; ``hf-hub:ORG/NAME``
    is pulled through the Hugging Face cache (:mod:`flexzoo.hub.artifacts`)."""
    if is_hub_reference(reference):
        return artifact_file(reference)
    path = Path(reference).expanduser()
    return path if path.is_absolute() else Path(manifest_file).parent / path


def check_freeze(value: Any) -> None:
    """``freeze`` is true, false, or a list of glob patterns over the backbone's parameter names."""
    if isinstance(value, bool):
        return
    if isinstance(value, list) and value and all(isinstance(p, str) and p for p in value):
        return
    raise TransferProblem("backbone.freeze", f"`freeze` must be true, false or a list of patterns, got "
                          f"{schema.describe(value)}", 'for example freeze = true or freeze = ["stem.*", "stages.0.*"]')


def backbone_from_artifact(table: dict[str, Any], manifest_file: str) -> tuple[dict[str, Any], list[int] | None]:
    """The backbone table an artifact stored (``from`` and ``freeze`` kept), and its input shape."""
    reference = table["from"]
    if not isinstance(reference, str) or not reference:
        raise TransferProblem("backbone.from", "`from` must be an artifact's path or `hf-hub:ORG/NAME`, got "
                              f"{schema.describe(reference)}",
                              'for example from = "out/digits-multitask.safetensors"')
    given = [k for k in table if k not in TRANSFER_KEYS]
    if given:
        raise TransferProblem(f"backbone.{given[0]}", f"`{given[0]}` is set, but the backbone comes from "
                              f"`{reference}` with the parameters it was built with",
                              "remove it, or add use = ... to build a new backbone and load the weights into it")
    try:
        artifact = read_artifact(artifact_location(reference, manifest_file), verify_weights=False)
    except FlexzooError as exc:
        raise TransferProblem("backbone.from", f"cannot reuse the backbone: {exc}",
                              "point `from` at an artifact written by `zoo build` or `zoo train`") from None
    stored = {k: v for k, v in artifact.manifest["backbone"].items() if k not in TRANSFER_KEYS}
    stored.update({k: table[k] for k in TRANSFER_KEYS if k in table})
    return stored, artifact.manifest["model"].get("input_shape")
