"""The keys of the manifest's plain sections ([model], [export], [train], ...): one way to declare and check them.

A section declares its keys once, as a :class:`KeyTable` of :class:`Key`; checking a table against it
reports each unknown key (with the closest name), wrong type, broken constraint and missing required
key as a :class:`~flexzoo.errors.Problem`, and returns the table with every default filled in.
Types and constraints are annotations, as for a factory's parameters (``Annotated[int, Gt(0)]``,
see :mod:`flexzoo.manifest.constraints`). No torch here.
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from flexzoo.errors import Problem
from flexzoo.host.registry import did_you_mean
from flexzoo.manifest import schema

__all__ = ["REQUIRED", "Key", "KeyTable", "Report"]

REQUIRED = schema.REQUIRED

#: Where a check sends what it finds; the caller adds the file and line.
Report = Callable[[Problem], None]


@dataclass(frozen=True)
class Key:
    """One key of a section.

    :param annotation: its type, with constraints where a range applies (``Annotated[float, Ge(0)]``).
    :param default: its value when the manifest leaves it out; ``REQUIRED`` when it must be given.
    :param doc: what it means (the fix of a problem with it repeats this, unless ``fix`` says more).
    :param check: a rule the annotation cannot state; returns the whole message for a well-typed
        value that breaks it, or "".
    :param fix: what to do about a value that breaks a constraint or ``check``.
    """

    name: str
    annotation: Any
    default: Any = REQUIRED
    doc: str = ""
    check: Callable[[Any], str] | None = None
    fix: str = ""

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    @property
    def hint(self) -> str:
        return self.fix or f"{self.name}: {self.doc}"


class KeyTable(Mapping[str, Key]):
    """The keys of one kind of table, in declaration order; ``nested`` names sub-tables checked elsewhere."""

    def __init__(self, *keys: Key, nested: tuple[str, ...] = ()) -> None:
        self._keys = {key.name: key for key in keys}
        self.nested = nested

    def __getitem__(self, name: str) -> Key:
        return self._keys[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def check(self, table: Any, where: str, report: Report) -> dict[str, Any] | None:
        """Check the table at key path ``where``; return it with defaults filled, or None after reporting."""
        if not isinstance(table, dict):
            report(Problem(where, f"`{where}` must be a table, got {schema.describe(table)}",
                           f"write it as [{where}]"))
            return None
        allowed = [*self, *self.nested]
        resolved: dict[str, Any] = {}
        ok = True
        for name, value in table.items():
            if name in self.nested:
                continue
            key = self._keys.get(name)
            if key is None:
                report(Problem(f"{where}.{name}", f"unknown key `{name}` in [{where}]",
                               did_you_mean(name, allowed) or f"allowed keys: {', '.join(allowed)}"))
                ok = False
                continue
            problems = _problems(key, value)
            for message, hint in problems:
                report(Problem(f"{where}.{name}", message, hint))
            if problems:
                ok = False
                continue
            resolved[name] = float(value) if schema.constraints.strip(key.annotation) is float else value
        for name, key in self._keys.items():
            if name in resolved or name in table:
                continue
            if key.required:
                report(Problem(f"{where}.{name}", f"missing `{name}` in [{where}]", f"add {name} = ...: {key.doc}"))
                ok = False
            else:
                resolved[name] = schema.to_toml(key.default)
        return resolved if ok else None


def _problems(key: Key, value: Any) -> list[tuple[str, str]]:
    """(message, fix) for each way ``value`` is wrong for ``key``: its type, else its constraints and check."""
    if not schema.matches(value, key.annotation):
        choices = _choices(key.annotation)
        hint = (did_you_mean(value, choices) if isinstance(value, str) and choices else "") or f"{key.name}: {key.doc}"
        return [(f"`{key.name}` expects {schema.type_text(key.annotation)}, got {schema.describe(value)}", hint)]
    found = [(message, key.hint) for message in schema.violations(value, key.annotation, key.name)]
    extra = key.check(value) if key.check and not found else ""
    return [*found, (extra, key.hint)] if extra else found


def _choices(annotation: Any) -> list[str]:
    annotation = schema.constraints.strip(annotation)
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) is list and args:
        return _choices(args[0])
    return [a for a in args if isinstance(a, str)] if typing.get_origin(annotation) is Literal else []
