"""Transfer learning: ``[backbone] from = "artifact"`` reuses a trained backbone, ``freeze`` fixes parts of it.

The manifest side is torch-free: a backbone table with ``from`` and no ``use`` takes its component
and parameters from the artifact's stored manifest (and ``[model] input_shape`` when the manifest
has none). When the model is built, the artifact's backbone weights replace the initialized ones,
and so do the weights of every head whose name and component are the same in both manifests: an
artifact is rebuilt with heads added or removed, keeping what stayed.
"""

from __future__ import annotations

import fnmatch
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flexzoo import schema
from flexzoo.errors import FlexzooError

if TYPE_CHECKING:
    from torch import nn

    from flexzoo.manifest import ResolvedManifest

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
    """Where ``from`` points: relative paths are relative to the manifest's directory."""
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
    from flexzoo.artifact.format import read_artifact

    reference = table["from"]
    if not isinstance(reference, str) or not reference:
        raise TransferProblem("backbone.from", f"`from` must be an artifact's path, got {schema.describe(reference)}",
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


def load_transferred_weights(model: nn.Module, manifest: ResolvedManifest) -> list[str]:
    """Copy the ``from`` artifact's backbone (and unchanged heads) into ``model``; return the parts copied."""
    from safetensors.torch import load_file

    from flexzoo.artifact.format import read_artifact
    from flexzoo.errors import ManifestError

    reference = manifest.backbone.weights_from
    assert reference is not None
    where = manifest.where()
    try:
        artifact = read_artifact(artifact_location(reference, manifest.file))
    except FlexzooError as exc:
        raise ManifestError(where.file, [where.problem("backbone.from", f"cannot reuse the backbone: {exc}")]) from None
    stored_heads = artifact.manifest.get("heads", {})
    kept = ["backbone"] + [name for name, spec in manifest.heads.items()
                           if _same_component(stored_heads.get(name), spec.to_dict())]
    tensors = load_file(str(artifact.path))
    state = model.state_dict()
    wanted = {name: tensor for name, tensor in tensors.items() if _part_of(name) in kept}
    problems = [f"{name}: {tuple(t.shape)} in the artifact, {tuple(state[name].shape)} here"
                for name, t in wanted.items() if name in state and state[name].shape != t.shape]
    missing = sorted(n for n in state if _part_of(n) in kept and n not in wanted)
    if problems or missing:
        detail = "; ".join(problems[:3]) or f"missing {', '.join(missing[:3])}"
        raise ManifestError(where.file, [where.problem(
            "backbone.from", f"the weights in `{reference}` do not fit this model's backbone ({detail})",
            "use the same backbone and parameters as the artifact, or drop `use` so they are taken from it")])
    model.load_state_dict(wanted, strict=False)
    return kept


def _part_of(tensor_name: str) -> str:
    """``backbone`` or the head a state-dict entry belongs to."""
    first, _, rest = tensor_name.partition(".")
    return rest.partition(".")[0] if first == "heads" else first


def _same_component(stored: dict[str, Any] | None, wanted: dict[str, Any]) -> bool:
    return stored is not None and stored == wanted


def frozen_parameter_names(model: nn.Module, freeze: bool | list[str]) -> list[str]:
    """The backbone parameters ``freeze`` selects, as ``backbone.<name>``; a pattern matching none is an error."""
    names = [name for name, _ in model.backbone.named_parameters()]
    if freeze is True:
        return [f"backbone.{n}" for n in names]
    if not freeze:
        return []
    selected: list[str] = []
    for pattern in freeze:
        matched = [n for n in names if fnmatch.fnmatchcase(n, pattern)]
        if not matched:
            from flexzoo.registry import closest

            near = closest(pattern, names) or names[:3]
            raise TransferProblem("backbone.freeze", f"freeze pattern `{pattern}` matches no backbone parameter",
                                  "backbone parameters are named like " + ", ".join(f"`{n}`" for n in near))
        selected += [f"backbone.{n}" for n in matched if f"backbone.{n}" not in selected]
    return selected
