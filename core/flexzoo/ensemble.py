"""Ensembles, the manifest side (torch-free): ``[ensemble] members`` resolved to the artifacts' stored manifests.

A member is an artifact's path, or a table ``{from = PATH, weights_sha256 = "..."}`` that pins its
weights, or (as an ensemble's own artifact stores it) that table with the member's resolved
``manifest``, which is then used as it is and the file is not read. Each member's stored manifest is
validated here like any manifest; the members must agree on the input shape and on the classes of
the head they are combined by (``output``). The weights are copied into the ensemble when it is built
(:mod:`flexzoo.transfer_weights`), checked against the sha256 resolved here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from annotated_types import MinLen

from flexzoo import schema
from flexzoo.artifact.format import read_artifact
from flexzoo.errors import FlexzooError, ManifestError, Problem
from flexzoo.manifest import EnsembleMember, EnsembleSection, ResolvedManifest
from flexzoo.sections import REQUIRED, Key, KeyTable, Report
from flexzoo.transfer import artifact_location

__all__ = ["ENSEMBLE_BACKBONE", "ENSEMBLE_KEYS", "MEMBER_KEYS", "Resolved", "resolve_ensemble"]

#: The backbone an ensemble gets when its manifest has no [backbone]: the members' outputs side by side.
ENSEMBLE_BACKBONE = "ensemble"

ENSEMBLE_KEYS = KeyTable(
    Key("members", Annotated[list[str | dict[str, Any]], MinLen(2)], REQUIRED,
        'the member artifacts, e.g. ["out/a.safetensors", "out/b.safetensors"] (relative to the manifest)',
        fix='list two or more artifacts, each a path or {from = "PATH", weights_sha256 = "..."}'),
    Key("output", str, "", "the members' head whose class probabilities are combined (default: their only head)"),
)
MEMBER_KEYS = KeyTable(
    Key("from", str, REQUIRED, "the member artifact's path (relative to the manifest)"),
    Key("weights_sha256", str, "", "the sha256 the member's weights must have (pins the file)"),
    Key("manifest", dict[str, Any], None, "the member's resolved manifest (stored by the ensemble's artifact)"),
)

#: Validates a member's stored manifest (``validation.revalidate``, passed in: validation imports this module).
Validate = Callable[[dict[str, Any], str], ResolvedManifest]


class Resolved:
    """What resolving ``[ensemble]`` gives: the section, and what the members agree on."""

    def __init__(self, section: EnsembleSection, input_shape: list[int], num_classes: int) -> None:
        self.section = section
        self.input_shape = input_shape
        self.num_classes = num_classes


def resolve_ensemble(table: Any, manifest_file: str, validate: Validate, report: Report) -> Resolved | None:
    """Check ``[ensemble]`` and resolve each member; report every problem and return None if there is one."""
    resolved = ENSEMBLE_KEYS.check(table, "ensemble", report)
    if resolved is None:
        return None
    members = [_member(entry, f"ensemble.members[{index}]", manifest_file, validate, report)
               for index, entry in enumerate(resolved["members"])]
    found = [member for member in members if member is not None]
    if len(found) != len(members):
        return None
    output = _output(found, resolved["output"], report)
    if output is None:
        return None
    agreed = _agreement(found, output, report)
    if agreed is None:
        return None
    return Resolved(EnsembleSection(tuple(found), output), *agreed)


def _member(entry: str | dict[str, Any], key: str, manifest_file: str, validate: Validate, report: Report
            ) -> EnsembleMember | None:
    given = MEMBER_KEYS.check(entry, key, report) if isinstance(entry, dict) else {"from": entry}
    if given is None:
        return None
    source, pinned, stored = given["from"], given.get("weights_sha256", ""), given.get("manifest")
    if stored is None:
        try:
            artifact = read_artifact(artifact_location(source, manifest_file), verify_weights=False)
        except FlexzooError as exc:
            report(Problem(key, f"cannot read ensemble member `{source}`: {exc}",
                           "point it at an artifact written by `zoo build` or `zoo train` (relative paths are "
                           "relative to the manifest)"))
            return None
        if pinned and pinned != artifact.weights_sha256:
            report(Problem(key, f"ensemble member `{source}` has weights sha256 {artifact.weights_sha256[:12]}…, "
                           f"but the manifest pins {pinned[:12]}…",
                           "the file changed since it was pinned: restore it, or update weights_sha256"))
            return None
        stored, pinned = artifact.manifest, artifact.weights_sha256
    elif not pinned:
        report(Problem(f"{key}.weights_sha256", "a member given with its `manifest` needs its `weights_sha256`",
                       "add the sha256 the member's weights were recorded with"))
        return None
    try:
        manifest = validate(stored, f"{source} (stored manifest of ensemble member {key})")
    except ManifestError as exc:
        report(Problem(key, f"ensemble member `{source}` no longer builds here: {exc}"))
        return None
    if manifest.compress:
        report(Problem(key, f"ensemble member `{source}` was compressed ({', '.join(s.use for s in manifest.compress)})"
                       "; an ensemble embeds uncompressed members",
                       "use the member's artifact from before [[compress]], and compress the ensemble instead"))
        return None
    if manifest.model.input_shape is None:
        report(Problem(key, f"ensemble member `{source}` has no [model] input_shape",
                       "rebuild the member with input_shape = [...] in its [model]"))
        return None
    return EnsembleMember(source=source, weights_sha256=pinned, manifest=manifest)


def _output(members: list[EnsembleMember], output: str, report: Report) -> str | None:
    """The members' head to combine: ``output``, or the one head every member has."""
    heads = [list(member.manifest.heads) for member in members]
    if not output:
        if all(names == heads[0] for names in heads) and len(heads[0]) == 1:
            return heads[0][0]
        common = sorted(set(heads[0]).intersection(*heads[1:]))
        report(Problem("ensemble.output", "the members have more than one head, or different heads: which one "
                       "do the model's heads combine?",
                       f"set output = one of {', '.join(common)}" if common else "the members share no head"))
        return None
    for member, names in zip(members, heads):
        if output not in names:
            report(Problem("ensemble.output", f"ensemble member `{member.source}` has no head `{output}`",
                           f"its heads: {', '.join(names)}"))
            return None
    return output


def _agreement(members: list[EnsembleMember], output: str, report: Report) -> tuple[list[int], int] | None:
    """The input shape and number of classes every member shares."""
    shapes = {tuple(member.manifest.model.input_shape or ()) for member in members}
    classes = {member.manifest.heads[output].params.get("num_classes") for member in members}
    if len(shapes) > 1:
        shown = ", ".join(str(list(shape)) for shape in sorted(shapes))
        report(Problem("ensemble.members", f"the members take different inputs: {shown}",
                       "combine members built for one input_shape"))
        return None
    if len(classes) > 1 or not all(isinstance(c, int) for c in classes):
        found = ", ".join(schema.describe(c) for c in classes)
        report(Problem("ensemble.output", f"the members' head `{output}` must be a classifier with one num_classes "
                       f"in every member; found {found}", "combine members trained on the same classes"))
        return None
    return list(shapes.pop()), int(classes.pop())
