"""Reading a TOML manifest, and the resolved manifest the rest of the host works from."""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from flexzoo.errors import ManifestError, Problem

MINIMAL_EXAMPLE = '[model]\nname = "my-model"\ninput_shape = [1, 8, 8]\n\n[backbone]\nuse = "mlp"\n\n' \
    '[heads.out]\nuse = "linear"\nnum_classes = 10'


@dataclass(frozen=True)
class ManifestSource:
    """A manifest's text, with a map from key paths (``heads.digit.use``) to line numbers."""

    file: str
    lines: dict[str, int]

    def line_of(self, key: str) -> int | None:
        """The line of ``key``, else of the first thing inside it, else of its nearest enclosing table."""
        if key in self.lines:
            return self.lines[key]
        inside = [line for path, line in self.lines.items() if path.startswith((f"{key}.", f"{key}["))]
        if inside:
            return min(inside)
        parent = key.rpartition(".")[0]
        return self.line_of(parent) if parent else None

    def problem(self, key: str, message: str, hint: str = "") -> Problem:
        return Problem(key=key, message=message, hint=hint, line=self.line_of(key))


_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"^\s*([A-Za-z0-9_\-\"'. ]+?)\s*=")


def _plain_key(text: str) -> str:
    return ".".join(part.strip().strip("\"'") for part in text.split("."))


def locate_keys(text: str) -> dict[str, int]:
    """Map key paths to 1-based line numbers; arrays of tables are indexed (``init[0].match``)."""
    lines: dict[str, int] = {}
    table = ""
    counts: dict[str, int] = {}
    multiline_string = False
    for number, line in enumerate(text.splitlines(), start=1):
        if line.count('"""') % 2 or line.count("'''") % 2:
            multiline_string = not multiline_string
            if not multiline_string:
                continue
        if multiline_string:
            continue
        header = _HEADER.match(line)
        if header:
            name = _plain_key(header.group(2))
            if header.group(1) == "[[":
                index = counts.get(name, 0)
                counts[name] = index + 1
                name = f"{name}[{index}]"
            table = name
            lines.setdefault(table, number)
            continue
        key = _KEY.match(line)
        if key:
            path = f"{table}.{_plain_key(key.group(1))}" if table else _plain_key(key.group(1))
            lines.setdefault(path, number)
    return lines


def read_manifest(path: str | Path) -> tuple[dict[str, Any], ManifestSource]:
    """Parse a manifest file; any reason it cannot be parsed becomes a ManifestError."""
    file = str(path)
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise ManifestError(file, [Problem("", "no such file", "check the path")]) from None
    except IsADirectoryError:
        raise ManifestError(file, [Problem("", "is a directory, not a manifest", "name a .toml file")]) from None
    except OSError as exc:
        raise ManifestError(file, [Problem("", f"cannot be read: {exc.strerror}")]) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ManifestError(
            file,
            [Problem("", f"is not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start})",
                     "save the manifest as UTF-8", line=line)],
        ) from None
    if not text.strip():
        raise ManifestError(
            file, [Problem("", "the manifest is empty", "start from:\n" + MINIMAL_EXAMPLE)]
        )
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ManifestError(file, [_syntax_problem(str(exc))]) from None
    return data, ManifestSource(file=file, lines=locate_keys(text))


def _syntax_problem(message: str) -> Problem:
    where = re.search(r"\(at line (\d+), column (\d+)\)", message)
    line = int(where.group(1)) if where else None
    what = re.sub(r"\s*\(at .*\)$", "", message)
    if what.startswith("Cannot overwrite a value") or "twice" in what:
        return Problem("", f"duplicate key or table: {what}",
                       "each key and table may appear once; remove or rename the repeated one", line)
    return Problem("", f"TOML syntax error: {what}" + ("" if where else " (at end of file)"),
                   "see https://toml.io for the syntax", line)


@dataclass(frozen=True)
class ComponentSpec:
    """A component chosen by a manifest, with every parameter resolved."""

    kind: str
    use: str  # qualified: plugin:name
    params: dict[str, Any]
    key: str  # where it came from, e.g. "heads.digit"
    match: str | None = None  # initializers only
    weights_from: str | None = None  # backbone only: the artifact whose weights it reuses ([backbone] from)
    freeze: bool | list[str] = False  # backbone only: true, or glob patterns over its parameter names

    @property
    def plugin(self) -> str:
        return self.use.partition(":")[0]

    @property
    def name(self) -> str:
        return self.use.partition(":")[2]

    def to_dict(self) -> dict[str, Any]:
        table: dict[str, Any] = {"use": self.use}
        if self.match is not None:
            table["match"] = self.match
        if self.weights_from is not None:
            table["from"] = self.weights_from
        if self.freeze:
            table["freeze"] = self.freeze
        return {**table, **self.params}


@dataclass(frozen=True)
class ModelSection:
    name: str
    version: str = "0.1.0"
    seed: int = 0
    input_shape: tuple[int, ...] | None = None
    description: str = ""


@dataclass(frozen=True)
class EnsembleMember:
    """One ``[ensemble]`` member: the artifact it came from, its weights' sha256 and its stored manifest.

    The ensemble's own artifact keeps all three and the member's weights, so it loads without the member's file.
    A member given as a manifest is *pending* until ``zoo build``/``zoo train`` makes its artifact: ``source``
    is then the manifest's path and there is no sha256 yet (see :mod:`flexzoo.features.ensembles.members`).
    """

    source: str  # the path the manifest gave (relative to the manifest's folder)
    weights_sha256: str  # "" while pending
    manifest: ResolvedManifest

    @property
    def pending(self) -> bool:
        """Whether the member is a manifest whose artifact is still to be built."""
        return not self.weights_sha256

    def to_dict(self) -> dict[str, Any]:
        pinned = {"weights_sha256": self.weights_sha256} if self.weights_sha256 else {}
        return {"from": self.source, **pinned, "manifest": self.manifest.to_dict()}


@dataclass(frozen=True)
class EnsembleSection:
    """``[ensemble]``: the member artifacts and which of their heads the model's heads combine."""

    members: tuple[EnsembleMember, ...]
    output: str  # the members' head whose class probabilities are combined

    def to_dict(self) -> dict[str, Any]:
        return {"members": [member.to_dict() for member in self.members], "output": self.output}


@dataclass(frozen=True)
class InputSpec:
    """One ``[inputs.<name>]``: one sample's shape (no batch dimension) and the backbone that reads it."""

    name: str
    shape: tuple[int, ...]
    backbone: ComponentSpec

    def to_dict(self) -> dict[str, Any]:
        return {"shape": list(self.shape), "backbone": self.backbone.to_dict()}


@dataclass(frozen=True)
class ResolvedManifest:
    """A validated manifest: every component resolved to ``plugin:name``, every default filled."""

    file: str
    model: ModelSection
    backbone: ComponentSpec
    heads: dict[str, ComponentSpec]
    init: list[ComponentSpec] = field(default_factory=list)
    compress: list[ComponentSpec] = field(default_factory=list)
    distributed: ComponentSpec | None = None
    train: dict[str, Any] | None = None  # the validated [train] section, when there is one
    export: dict[str, Any] | None = None  # the validated [export] section, when there is one
    track: dict[str, Any] | None = None  # the validated [track] section: how a run is watched, not the model
    ensemble: EnsembleSection | None = None  # the [ensemble] members, when the model combines artifacts
    inputs: dict[str, InputSpec] | None = None  # [inputs.<name>], when the model takes several; backbone is [fusion]
    budget: dict[str, Any] | None = None  # the [budget] keys the manifest sets: the dry run's limits
    source: ManifestSource | None = field(default=None, compare=False, repr=False)

    def base_dir(self) -> Path | None:
        """The manifest's folder, which relative paths in it are relative to; None for a stored manifest."""
        path = Path(self.file)
        return path.parent if path.is_file() else None

    def input_shapes(self) -> dict[str, tuple[int, ...]] | None:
        """Each input's shape by name for a model of several ``[inputs]``; None for a model of one input."""
        return {name: spec.shape for name, spec in self.inputs.items()} if self.inputs else None

    def where(self) -> ManifestSource:
        """Where the manifest came from, for error messages (lines unknown for stored manifests)."""
        return self.source or ManifestSource(file=self.file, lines={})

    def components(self) -> list[ComponentSpec]:
        """Every component, in lifecycle order."""
        branches = [spec.backbone for spec in (self.inputs or {}).values()]
        found = [*branches, self.backbone, *self.heads.values(), *self.init, *self.compress]
        return found + ([self.distributed] if self.distributed else [])

    def plugins(self) -> list[str]:
        """The plugins this manifest needs (an ensemble's members' too), sorted."""
        members = self.ensemble.members if self.ensemble else ()
        return sorted({spec.plugin for spec in self.components()}.union(
            *(member.manifest.plugins() for member in members)))

    def to_dict(self) -> dict[str, Any]:
        """The resolved manifest in manifest shape, ready to store and to validate again.

        ``[track]`` is left out: which trackers watched a run is no part of the model (a checkpoint
        resumes with other trackers, and an artifact loads where they are not installed).
        """
        model: dict[str, Any] = {"name": self.model.name, "version": self.model.version,
                                 "seed": self.model.seed, "description": self.model.description}
        if self.model.input_shape is not None:
            model["input_shape"] = list(self.model.input_shape)
        data: dict[str, Any] = {
            "model": model,
            **({"inputs": {name: spec.to_dict() for name, spec in self.inputs.items()},
                "fusion": self.backbone.to_dict()} if self.inputs else {"backbone": self.backbone.to_dict()}),
            "heads": {name: spec.to_dict() for name, spec in self.heads.items()},
            "init": [spec.to_dict() for spec in self.init],
            "compress": [spec.to_dict() for spec in self.compress],
        }
        if self.distributed:
            data["distributed"] = self.distributed.to_dict()
        if self.ensemble:
            data["ensemble"] = self.ensemble.to_dict()
        for section in ("train", "export", "budget"):
            if getattr(self, section) is not None:
                data[section] = getattr(self, section)
        return data
