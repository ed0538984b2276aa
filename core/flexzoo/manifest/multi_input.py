"""Models of several inputs, the manifest side (torch-free): ``[inputs.<name>]`` and ``[fusion]``.

Each ``[inputs.<name>]`` gives one sample's ``shape`` and the ``backbone`` that reads it (a component
table, inline or as ``[inputs.<name>.backbone]``); ``[fusion]`` names the backbone that joins their
features (``concat`` when it is left out). The resolved manifest keeps the fusion as its backbone
and the branches in ``inputs``; a model of one input has neither, so its manifest (and hash) is what
it always was.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Protocol

from annotated_types import Gt, MinLen

from flexzoo.manifest import schema
from flexzoo.manifest.resolved import ComponentSpec, InputSpec
from flexzoo.manifest.sections import REQUIRED, Key, KeyTable

__all__ = ["DEFAULT_FUSION", "INPUT_KEYS", "check_inputs", "takes_branches"]

DEFAULT_FUSION = "concat"
INPUT_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
INPUT_KEYS = KeyTable(
    Key("shape", Annotated[list[Annotated[int, Gt(0)]], MinLen(1)], REQUIRED,
        "one sample of this input's shape, without the batch dimension, e.g. [1, 8, 8]",
        fix="give one sample's shape without the batch dimension, e.g. [1, 8, 8] or [4]"),
    nested=("backbone",),
)


class Checker(Protocol):
    """What of the validation's checker this module uses (validation passes itself)."""

    registry: Any

    def report(self, key: str, message: str, hint: str = "") -> None: ...

    def add(self, problem: Any) -> None: ...

    def component(self, kind: str, table: dict[str, Any], key: str, match: str | None = None,
                  default_use: str | None = None, transfer: bool = False) -> ComponentSpec | None: ...


def takes_branches(registry: Any, use: str) -> bool:
    """Whether the backbone ``use`` is a fusion: its factory declares the host's ``branches``."""
    factory = registry.resolve("backbone", use).component.factory
    return "branches" in {p.name for p in schema.parameters(factory)}


def fusions(registry: Any) -> list[str]:
    """The installed fusions' names, for hints."""
    return sorted(entry.name for entry in registry.components("backbone")
                  if takes_branches(registry, entry.qualified_name))


def check_inputs(data: dict[str, Any], checker: Checker) -> tuple[dict[str, InputSpec], ComponentSpec] | None:
    """``[inputs]`` and ``[fusion]``: each input's shape and backbone, and the fusion; None after reporting."""
    table = data["inputs"]
    if not isinstance(table, dict) or not table:
        checker.report("inputs", "`inputs` must hold one [inputs.<name>] table per input, got "
                       f"{schema.describe(table)}",
                       'add [inputs.image] with shape = [1, 8, 8] and backbone = { use = "cnn" }')
        return None
    for section, why in (("backbone", "each input has its own backbone and [fusion] joins them"),
                         ("ensemble", "an ensemble takes its members' input")):
        if section in data:
            checker.report(section, f"[{section}] and [inputs] cannot both be given: {why}",
                           f"remove [{section}]" if section == "backbone" else "remove [inputs]")
    model = data.get("model")
    if isinstance(model, dict) and "input_shape" in model:
        checker.report("model.input_shape", "[model] input_shape and [inputs] cannot both be given: each input "
                       "gives its own shape", "remove input_shape from [model]")
    if len(table) < 2:
        checker.report("inputs", f"[inputs] declares one input ({', '.join(table)}); a model of one input has a "
                       "[backbone] and [model] input_shape", "declare two or more inputs, or use [backbone]")
    found: dict[str, InputSpec] = {}
    ok = len(table) >= 2
    for name, entry in table.items():
        spec = _input(name, entry, checker)
        ok = ok and spec is not None
        if spec is not None:
            found[name] = spec
    fusion = _fusion(data.get("fusion", {}), checker)
    return (found, fusion) if ok and fusion is not None else None


def _input(name: str, entry: Any, checker: Checker) -> InputSpec | None:
    key = f"inputs.{name}"
    if not INPUT_NAME.match(name):
        checker.report(key, f"input name `{name}` is not an identifier (it names an array of the data and an "
                       "input of the ONNX export)", "use letters, digits and '_', not starting with a digit")
        return None
    resolved = INPUT_KEYS.check(entry, key, checker.add)
    if not isinstance(entry, dict):
        return None
    backbone = entry.get("backbone")
    if not isinstance(backbone, dict):
        checker.report(f"{key}.backbone", f"[{key}] needs its backbone, a table, got "
                       f"{'nothing' if backbone is None else schema.describe(backbone)}",
                       'add backbone = { use = "mlp", widths = [16] }')
        return None
    spec = checker.component("backbone", backbone, f"{key}.backbone")
    if spec is None or resolved is None:
        return None
    if takes_branches(checker.registry, spec.use) or _takes(checker.registry, spec.use, "members"):
        checker.report(f"{key}.backbone.use", f"`{spec.use}` combines other models; an input's backbone reads "
                       "the input itself", 'use a backbone such as "mlp" or "cnn"')
        return None
    return InputSpec(name=name, shape=tuple(resolved["shape"]), backbone=spec)


def _fusion(table: Any, checker: Checker) -> ComponentSpec | None:
    if not isinstance(table, dict):
        checker.report("fusion", f"`fusion` must be a table, got {schema.describe(table)}", "write it as [fusion]")
        return None
    spec = checker.component("backbone", table, "fusion", default_use=DEFAULT_FUSION)
    if spec is not None and not takes_branches(checker.registry, spec.use):
        checker.report("fusion.use", f"`{spec.use}` is a backbone, not a fusion of inputs",
                       f"fusions: {', '.join(fusions(checker.registry))}")
        return None
    return spec


def _takes(registry: Any, use: str, parameter: str) -> bool:
    factory = registry.resolve("backbone", use).component.factory
    return parameter in {p.name for p in schema.parameters(factory)}
