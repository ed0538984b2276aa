"""Ensembles, the manifest side (torch-free): ``[ensemble] members`` resolved to the members' manifests.

A member is an artifact's path, or a table ``{from = PATH, weights_sha256 = "..."}`` that pins its
weights, or (as an ensemble's own artifact stores it) that table with the member's resolved
``manifest``, which is then used as it is and the file is not read. A member may also be a
manifest (a ``.toml`` path): it is validated here with the ensemble (its problems reported under the
member's key) and built, or trained when it has ``[train]``, by ``zoo build``/``zoo train`` before
the ensemble (:mod:`flexzoo.features.ensembles.members`). ``[ensemble.bagging]`` adds ``count`` members made
from one manifest, member k trained on its own bootstrap sample of the ``[train]`` data (``[train]
bootstrap``, seeded by (seed, k)). Each member's manifest is validated here like any manifest; the
members must agree on the input shape and on the classes of the head they are combined by
(``output``). The weights are copied into the ensemble when it is built
(:mod:`flexzoo.pipeline.transfer`), checked against the sha256 resolved here.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import os
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Annotated, Any

from annotated_types import Ge

from flexzoo.artifact.format import read_artifact
from flexzoo.errors import FlexzooError, ManifestError, Problem
from flexzoo.manifest import schema
from flexzoo.manifest.resolved import EnsembleMember, EnsembleSection, ManifestSource, ResolvedManifest, read_manifest
from flexzoo.manifest.sections import REQUIRED, Key, KeyTable, Report
from flexzoo.manifest.transfer import artifact_location

__all__ = ["BAGGING_KEYS", "ENSEMBLE_BACKBONE", "ENSEMBLE_KEYS", "MANIFEST_SUFFIX", "MEMBER_KEYS", "Resolved",
           "bootstrap_seed", "member_labels", "resolve_ensemble"]

#: The backbone an ensemble gets when its manifest has no [backbone]: the members' outputs side by side.
ENSEMBLE_BACKBONE = "ensemble"
#: A member path ending so is a manifest, built (or trained) before the ensemble; any other is an artifact.
MANIFEST_SUFFIX = ".toml"

ENSEMBLE_KEYS = KeyTable(
    Key("members", list[str | dict[str, Any]], [],
        'the members: artifacts, or manifests (.toml) built first, e.g. ["out/a.safetensors", "b.toml"] '
        "(relative to the manifest)",
        fix='list members as paths or {from = "PATH", weights_sha256 = "..."} tables'),
    Key("output", str, "", "the members' head whose class probabilities are combined (default: their only head)"),
    nested=("bagging",),
)
MEMBER_KEYS = KeyTable(
    Key("from", str, REQUIRED, "the member's artifact, or its manifest (.toml), relative to the manifest"),
    Key("weights_sha256", str, "", "the sha256 the member's weights must have (pins the file)"),
    Key("manifest", dict[str, Any], None, "the member's resolved manifest (stored by the ensemble's artifact)"),
)
BAGGING_KEYS = KeyTable(
    Key("manifest", str, REQUIRED, "the manifest (with [train]) every bagged member is trained from, relative "
        "to the manifest"),
    Key("count", Annotated[int, Ge(2)], REQUIRED, "how many members: member k trains on its own bootstrap sample "
        "of the [train] data", fix="bag two or more members, e.g. count = 5"),
    Key("seed", Annotated[int, Ge(0)], 0, "the seed the members' bootstrap samples are drawn from (with k)"),
)

#: Validates a member's manifest (``validation.validate``, passed in: validation imports this module).
Validate = Callable[[dict[str, Any], ManifestSource], ResolvedManifest]

#: The manifest files being resolved, outermost first: a member manifest among them is a cycle.
_RESOLVING: ContextVar[tuple[str, ...]] = ContextVar("flexzoo_ensembles_resolving", default=())


def bootstrap_seed(seed: int, member: int) -> int:
    """The ``[train] bootstrap`` seed of bagged member ``member`` (from 0) of ``[ensemble.bagging] seed``."""
    digest = hashlib.sha256(f"flexzoo bagging {seed} {member}".encode()).digest()
    return int.from_bytes(digest[:7], "big")


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
    with _resolving(manifest_file):
        members = [_member(entry, f"ensemble.members[{index}]", manifest_file, validate, report)
                   for index, entry in enumerate(resolved["members"])]
        if "bagging" in table:
            members += _bagged(table["bagging"], manifest_file, validate, report) or [None]
    found = [member for member in members if member is not None]
    if len(found) != len(members):
        return None
    if len(found) < 2:
        report(Problem("ensemble.members", f"an ensemble combines two or more members, this one has {len(found)}",
                       'list two or more artifacts or manifests, e.g. members = ["a.safetensors", "b.toml"], or '
                       "add [ensemble.bagging]"))
        return None
    if not _distinct_names(found, report):
        return None
    output = _output(found, resolved["output"], report)
    if output is None:
        return None
    agreed = _agreement(found, output, report)
    if agreed is None:
        return None
    return Resolved(EnsembleSection(tuple(found), output), *agreed)


def member_labels(section: EnsembleSection, manifest_file: str) -> list[str] | None:
    """The class names of the members' ``output`` head, when every member's card has the same ones (else None).

    Read from the member artifacts (their metadata only) when the ensemble is built, so that a mean or
    vote head answers with the members' class names.
    """
    found = []
    for member in section.members:
        try:
            card = read_artifact(artifact_location(member.source, manifest_file), verify_weights=False).card
        except FlexzooError:  # checked and embedded elsewhere; without its file there is no card to read
            return None
        found.append(card.get("heads", {}).get(section.output, {}).get("labels"))
    first = found[0]
    return list(first) if first and all(labels == first for labels in found) else None


@contextlib.contextmanager
def _resolving(manifest_file: str) -> Iterator[None]:
    token = _RESOLVING.set((*_RESOLVING.get(), os.path.abspath(manifest_file)))
    try:
        yield
    finally:
        _RESOLVING.reset(token)


def _member(entry: str | dict[str, Any], key: str, manifest_file: str, validate: Validate, report: Report
            ) -> EnsembleMember | None:
    given = MEMBER_KEYS.check(entry, key, report) if isinstance(entry, dict) else {"from": entry}
    if given is None:
        return None
    source, pinned, stored = given["from"], given.get("weights_sha256", ""), given.get("manifest")
    if stored is None and source.endswith(MANIFEST_SUFFIX):
        if pinned:
            report(Problem(f"{key}.weights_sha256", f"`{source}` is a manifest: its weights are made when the "
                           "ensemble is built, so there is nothing to pin",
                           "remove weights_sha256, or point `from` at the member's artifact"))
            return None
        data = _read_member(source, key, manifest_file, report)
        return None if data is None else _manifest_member(*data, source, key, validate, report)
    if stored is None:
        try:
            artifact = read_artifact(artifact_location(source, manifest_file), verify_weights=False)
        except FlexzooError as exc:
            report(Problem(key, f"cannot read ensemble member `{source}`: {exc}",
                           "point it at an artifact written by `zoo build` or `zoo train`, or at a manifest "
                           "(.toml) to build (relative paths are relative to the manifest)"))
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
        manifest = validate(stored, ManifestSource(f"{source} (stored manifest of ensemble member {key})", {}))
    except ManifestError as exc:
        report(Problem(key, f"ensemble member `{source}` no longer builds here: {exc}"))
        return None
    return EnsembleMember(source=source, weights_sha256=pinned, manifest=manifest) \
        if _usable(manifest, source, key, report) else None


def _read_member(source: str, key: str, manifest_file: str, report: Report
                 ) -> tuple[dict[str, Any], ManifestSource] | None:
    """A member manifest's parsed text, unless it cannot be read or is being resolved already (a cycle)."""
    path = artifact_location(source, manifest_file)
    chain = _RESOLVING.get()
    if os.path.abspath(path) in chain:
        shown = " → ".join(os.path.basename(file) for file in (*chain, str(path)))
        report(Problem(key, f"member manifest `{source}` contains the ensemble itself ({shown})",
                       "an ensemble cannot be its own member: name another manifest or artifact"))
        return None
    try:
        return read_manifest(path)
    except ManifestError as exc:
        report(Problem(key, f"cannot read member manifest `{source}`: {exc}",
                       "relative paths are relative to the ensemble's manifest"))
        return None


def _manifest_member(data: dict[str, Any], where: ManifestSource, source: str, key: str, validate: Validate,
                     report: Report) -> EnsembleMember | None:
    """A member given as a manifest: validated now, built (or trained) when the ensemble is (no weights yet)."""
    try:
        manifest = validate(data, where)
    except ManifestError as exc:
        detail = str(exc).replace("\n", "\n    ")
        report(Problem(key, f"member manifest `{source}` is not valid:\n    {detail}",
                       "fix the member manifest (`zoo validate` it alone to check it)"))
        return None
    return EnsembleMember(source=source, weights_sha256="", manifest=manifest) \
        if _usable(manifest, source, key, report) else None


def _bagged(table: Any, manifest_file: str, validate: Validate, report: Report) -> list[EnsembleMember] | None:
    """``[ensemble.bagging]``: ``count`` members of one manifest, member k with ``[train] bootstrap`` set for it."""
    given = BAGGING_KEYS.check(table, "ensemble.bagging", report)
    if given is None:
        return None
    source, key = given["manifest"], "ensemble.bagging.manifest"
    read = _read_member(source, key, manifest_file, report)
    if read is None:
        return None
    data, where = read
    train = data.get("train")
    if not isinstance(train, dict):
        report(Problem(key, f"`{source}` has no [train]: bagging trains each member on a bootstrap sample of its "
                       "[train] data", "add a [train] section to the member manifest"))
        return None
    if "bootstrap" in train:
        report(Problem(key, f"`{source}` sets [train] bootstrap, which bagging chooses for each member",
                       "remove bootstrap from the member manifest"))
        return None
    members = []
    for index in range(given["count"]):
        bagged = copy.deepcopy(data)
        bagged["train"]["bootstrap"] = bootstrap_seed(given["seed"], index)
        model = bagged.get("model")
        if isinstance(model, dict) and isinstance(model.get("name"), str):
            model["name"] = f"{model['name']}-{index}"
        member = _manifest_member(bagged, where, source, key, validate, report)
        if member is None:
            return None  # the same manifest: once is enough
        members.append(member)
    return members


def _usable(manifest: ResolvedManifest, source: str, key: str, report: Report) -> bool:
    """An ensemble embeds uncompressed members of a known input shape."""
    if manifest.compress:
        report(Problem(key, f"ensemble member `{source}` is compressed ({', '.join(s.use for s in manifest.compress)})"
                       "; an ensemble embeds uncompressed members",
                       "use the member from before [[compress]], and compress the ensemble instead"))
        return False
    if manifest.model.input_shape is None:
        report(Problem(key, f"ensemble member `{source}` has no [model] input_shape",
                       "give the member input_shape = [...] in its [model]"))
        return False
    return True


def _distinct_names(members: list[EnsembleMember], report: Report) -> bool:
    """Members built from manifests are written as ``<name>.safetensors``: their names must differ."""
    seen: dict[str, str] = {}
    for member in members:
        if not member.pending:
            continue
        name = member.manifest.model.name
        if name in seen:
            which = f"`{member.source}` is listed twice" if seen[name] == member.source else \
                f"members `{seen[name]}` and `{member.source}` are both named `{name}`"
            report(Problem("ensemble.members", f"{which}: each member manifest is built into <name>.safetensors, "
                           "so their names must differ",
                           "give the member manifests different [model] names (or bag one with [ensemble.bagging])"))
            return False
        seen[name] = member.source
    return True


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
