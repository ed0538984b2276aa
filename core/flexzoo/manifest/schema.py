"""A factory's signature as a schema: parameter names, types, defaults and docs, and type checks.

Annotations are evaluated lazily against the factory's module, so factories may use
``from __future__ import annotations`` and keep heavy types under ``TYPE_CHECKING``. An annotation may
carry value constraints (``Annotated[int, Gt(0)]``, see :mod:`flexzoo.manifest.constraints`): the type checks
here look through them, and ``violations`` checks them.
"""

from __future__ import annotations

import functools
import inspect
import re
import types
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from flexzoo.manifest import constraints

__all__ = ["REQUIRED", "ParameterSpec", "accepts_any_keyword", "describe", "matches", "parameters", "to_python",
           "to_toml", "type_text", "violations"]

REQUIRED = inspect.Parameter.empty


@dataclass(frozen=True)
class ParameterSpec:
    """One parameter of a factory."""

    name: str
    annotation: Any  # the evaluated type (constraints included), or None when unannotated or not evaluable
    type_text: str
    default: Any  # REQUIRED when there is none
    doc: str
    constraints: str = ""  # the annotation's value constraints as text (``> 0``), "" when none

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


def _unwrap(factory: Callable[..., Any]) -> Callable[..., Any]:
    while isinstance(factory, functools.partial):
        factory = factory.func
    return factory


def _doc_of_parameters(doc: str) -> dict[str, str]:
    """Parameter docs from a Google-style ``Args:`` block or ``:param name:`` lines."""
    found: dict[str, str] = {}
    for match in re.finditer(r":param\s+(\w+):\s*(.+)", doc):
        found[match.group(1)] = match.group(2).strip()
    block = re.search(r"^\s*(?:Args|Arguments|Parameters):\s*\n((?:[ \t]+.*\n?)+)", doc, re.MULTILINE)
    if block:
        current, indent = None, 0
        for line in block.group(1).splitlines():
            item = re.match(r"\s*(\w+)(?:\s*\([^)]*\))?:\s*(.*)", line)
            if item and (current is None or len(line) - len(line.lstrip()) <= indent):
                current, indent = item.group(1), len(line) - len(line.lstrip())
                found[current] = item.group(2).strip()
            elif current and line.strip():
                found[current] = f"{found[current]} {line.strip()}".strip()
    return found


def _type_hints(factory: Callable[..., Any]) -> dict[str, Any]:
    target = _unwrap(factory)
    try:
        return typing.get_type_hints(target, include_extras=True)
    except Exception:  # an unresolvable annotation: check what we can, one by one
        hints = {}
        module = inspect.getmodule(target)
        namespace = vars(module) if module else {}
        for name, raw in getattr(target, "__annotations__", {}).items():
            try:
                hints[name] = eval(raw, namespace) if isinstance(raw, str) else raw
            except Exception:
                hints[name] = None
        return hints


def type_text(annotation: Any) -> str:
    """A short human form of a type: ``list[int]``, ``'relu' | 'gelu'``, ``int | None``."""
    if annotation is None or annotation is REQUIRED:
        return "any"
    annotation = constraints.strip(annotation)
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Literal:
        return " | ".join(repr(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(type_text(a) for a in args)
    if origin is not None:
        name = getattr(origin, "__name__", str(origin))
        inner = ", ".join("..." if a is Ellipsis else type_text(a) for a in args)
        return f"{name}[{inner}]" if args else name
    if annotation is type(None):
        return "None"
    return getattr(annotation, "__name__", str(annotation))


@functools.cache
def parameters(factory: Callable[..., Any]) -> tuple[ParameterSpec, ...]:
    """The keyword parameters of ``factory``, in signature order."""
    signature = inspect.signature(factory)
    hints = _type_hints(factory)
    docs = _doc_of_parameters(inspect.getdoc(_unwrap(factory)) or "")
    specs = []
    for param in signature.parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD, param.POSITIONAL_ONLY):
            continue
        annotation = hints.get(param.name)
        specs.append(
            ParameterSpec(
                name=param.name,
                annotation=annotation,
                type_text=type_text(annotation) if param.name in hints else "any",
                default=param.default,
                doc=docs.get(param.name, ""),
                constraints=constraints.describe(annotation),
            )
        )
    return tuple(specs)


def accepts_any_keyword(factory: Callable[..., Any]) -> bool:
    """Whether the factory takes ``**kwargs`` (then unknown keys are its business)."""
    return any(p.kind is p.VAR_KEYWORD for p in inspect.signature(factory).parameters.values())


def matches(value: Any, annotation: Any) -> bool:
    """Whether a TOML value fits a type annotation (ints fit floats; bools fit only bools)."""
    annotation = constraints.strip(annotation)
    if annotation is None or annotation is Any or annotation is inspect.Parameter.empty:
        return True
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Literal:
        return any(value == a and type(value) is type(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return any(matches(value, a) for a in args)
    if annotation is type(None):
        return value is None
    if annotation is bool:
        return isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if annotation is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if origin in (list, tuple, Sequence, typing.Sequence) or annotation in (list, tuple):
        if not isinstance(value, list):
            return False
        if not args:
            return True
        if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            return len(value) == len(args) and all(matches(v, a) for v, a in zip(value, args))
        return all(matches(v, args[0]) for v in value)
    if origin is dict or annotation is dict:
        if not isinstance(value, dict):
            return False
        return not args or all(matches(k, args[0]) and matches(v, args[1]) for k, v in value.items())
    if isinstance(annotation, type):
        return isinstance(value, annotation)
    return True  # a type we cannot check from TOML values: the factory decides


def to_python(value: Any, annotation: Any) -> Any:
    """Turn a checked TOML value into what the annotation names (lists into tuples)."""
    annotation = constraints.strip(annotation)
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            if matches(value, arg):
                return to_python(value, arg)
    if (origin is tuple or annotation is tuple) and isinstance(value, list):
        return tuple(value)
    if annotation is float and isinstance(value, int):
        return float(value)
    return value


def violations(value: Any, annotation: Any, name: str) -> list[str]:
    """The constraints a well-typed value breaks, as messages (``"`num_classes` must be > 0, got -3"``)."""
    return constraints.violations(value, annotation, name, matches)


def describe(value: Any) -> str:
    """A TOML value for an error message: its TOML type and a short repr (``integer 3``)."""
    kind = {bool: "boolean", int: "integer", float: "float", str: "string", list: "array",
            dict: "table"}.get(type(value), type(value).__name__)
    text = repr(value)
    return f"{kind} {text if len(text) <= 40 else text[:37] + '...'}"


def to_toml(value: Any) -> Any:
    """A default value in the form a resolved manifest stores (tuples as lists)."""
    if isinstance(value, tuple):
        return [to_toml(v) for v in value]
    if isinstance(value, list):
        return [to_toml(v) for v in value]
    if isinstance(value, dict):
        return {k: to_toml(v) for k, v in value.items()}
    return value
