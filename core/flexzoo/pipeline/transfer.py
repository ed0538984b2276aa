"""The transfer stage: copy a ``from`` artifact's backbone (and unchanged heads) into a freshly built model."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flexzoo.artifact.load import read_weights
from flexzoo.assembly.builder import ensemble_members
from flexzoo.errors import FlexzooError, ManifestError
from flexzoo.manifest.transfer import artifact_location

if TYPE_CHECKING:
    from torch import nn

    from flexzoo.host.registry import Registry
    from flexzoo.manifest.resolved import ResolvedManifest

__all__ = ["load_member_weights", "load_transferred_weights"]


def load_transferred_weights(model: nn.Module, manifest: ResolvedManifest, registry: Registry) -> list[str]:
    """Copy the ``from`` artifact's backbone (and unchanged heads) into ``model``; return the parts copied.

    The artifact is read once; its weights are checked against their recorded sha256.
    """
    reference = manifest.backbone.weights_from
    assert reference is not None
    where = manifest.where()
    try:
        artifact, tensors = read_weights(artifact_location(reference, manifest.file), registry)
    except FlexzooError as exc:
        raise ManifestError(where.file, [where.problem("backbone.from", f"cannot reuse the backbone: {exc}")]) from None
    stored_heads = artifact.manifest.get("heads", {})
    kept = ["backbone"] + [name for name, spec in manifest.heads.items()
                           if _same_component(stored_heads.get(name), spec.to_dict())]
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



def load_member_weights(model: nn.Module, manifest: ResolvedManifest, registry: Registry) -> None:
    """Copy each ``[ensemble]`` member's weights into its place in the ensemble (what the artifact then embeds).

    Each member file is read once and verified: against the sha256 in its own header, and against the
    sha256 the manifest resolved (or pinned), so a file changed after validation is refused too.
    """
    ensemble = manifest.ensemble
    assert ensemble is not None
    where = manifest.where()
    members = ensemble_members(model.backbone)
    assert len(members) == len(ensemble.members), "the ensemble backbone holds one model per member"
    for index, (member, module) in enumerate(zip(ensemble.members, members)):
        key = f"ensemble.members[{index}]"
        if member.pending:
            raise ManifestError(where.file, [where.problem(
                key, f"ensemble member `{member.source}` is a manifest, and its artifact is not built yet",
                "build the ensemble with `zoo build`/`zoo train` -o DIR (or flexzoo.train), which build its "
                "members into DIR first; flexzoo.build writes no files")])
        try:
            artifact, tensors = read_weights(artifact_location(member.source, manifest.file), registry)
        except FlexzooError as exc:
            raise ManifestError(where.file, [where.problem(key, f"cannot embed ensemble member `{member.source}`: "
                                                           f"{exc}")]) from None
        if artifact.weights_sha256 != member.weights_sha256:
            raise ManifestError(where.file, [where.problem(
                key, f"ensemble member `{member.source}` has weights sha256 {artifact.weights_sha256[:12]}…, not "
                f"the {member.weights_sha256[:12]}… it was resolved with", "the file changed: restore it, or "
                "validate the manifest again")])
        state = module.state_dict()
        module.load_state_dict({name: tensors[name] for name in state}, strict=True)
