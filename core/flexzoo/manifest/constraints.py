"""Value constraints declared in annotations with ``annotated-types``: their text and their checks.

A factory parameter or a section key may narrow its type with ``typing.Annotated``::

    num_classes: Annotated[int, Gt(0)]
    dropout: Annotated[float, Interval(ge=0, lt=1)]
    channels: Annotated[list[Annotated[int, Gt(0)]], MinLen(1)]
    depth: Annotated[int, Gt(0), Bound(Le(1024), "the reason a refusal gives")]

The static check reports a value that breaks one (no torch needed), and ``zoo info`` shows them.
Metadata that is not an ``annotated-types`` constraint is ignored.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import annotated_types as at

__all__ = ["describe", "strip", "violations"]

_BOUNDS = ((at.Gt, "gt", ">"), (at.Ge, "ge", ">="), (at.Lt, "lt", "<"), (at.Le, "le", "<="))


def strip(annotation: Any) -> Any:
    """The type an annotation names, without its constraints (``Annotated[int, Gt(0)]`` -> ``int``)."""
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation


def _metadata(annotation: Any) -> tuple[Any, list[Any]]:
    """(the base type, the annotated-types constraints on this level)."""
    found: list[Any] = []
    while typing.get_origin(annotation) is typing.Annotated:
        base, *extras = typing.get_args(annotation)
        found.extend(m for m in extras if isinstance(m, (at.BaseMetadata, at.GroupedMetadata)))
        annotation = base
    return annotation, found


def _parts(constraint: Any) -> Iterator[Any]:
    if isinstance(constraint, at.GroupedMetadata):
        for part in constraint:
            yield from _parts(part)
    else:
        yield constraint


def _number(value: Any) -> str:
    return repr(value) if not isinstance(value, float) or not value.is_integer() else str(int(value))


def _phrase(constraint: Any) -> str:
    """What a value must be, to follow "must be": ``> 0``, ``in [0, 1)``, ``non-empty``."""
    bounds = {attr: getattr(part, attr) for part in _parts(constraint)
              for kind, attr, _ in _BOUNDS if isinstance(part, kind)}
    if isinstance(constraint, at.Interval) and len(bounds) == 2:
        low = "[" if "ge" in bounds else "("
        high = "]" if "le" in bounds else ")"
        lower = bounds.get("ge", bounds.get("gt"))
        upper = bounds.get("le", bounds.get("lt"))
        return f"in {low}{_number(lower)}, {_number(upper)}{high}"
    phrases = []
    for part in _parts(constraint):
        for kind, attr, sign in _BOUNDS:
            if isinstance(part, kind):
                phrases.append(f"{sign} {_number(getattr(part, attr))}")
        if isinstance(part, at.MinLen):
            phrases.append("non-empty" if part.min_length == 1 else f"of length >= {part.min_length}")
        elif isinstance(part, at.MaxLen):
            phrases.append(f"of length <= {part.max_length}")
        elif isinstance(part, at.MultipleOf):
            phrases.append(f"a multiple of {_number(part.multiple_of)}")
        elif isinstance(part, at.Predicate):
            name = getattr(part.func, "__name__", repr(part.func))
            phrases.append(f"accepted by `{name}`")
    return " and ".join(phrases)


def _holds(constraint: Any, value: Any) -> bool:
    for part in _parts(constraint):
        try:
            if isinstance(part, at.Gt) and not value > part.gt:
                return False
            if isinstance(part, at.Ge) and not value >= part.ge:
                return False
            if isinstance(part, at.Lt) and not value < part.lt:
                return False
            if isinstance(part, at.Le) and not value <= part.le:
                return False
            if isinstance(part, at.MinLen) and not len(value) >= part.min_length:
                return False
            if isinstance(part, at.MaxLen) and not len(value) <= part.max_length:
                return False
            if isinstance(part, at.MultipleOf) and value % part.multiple_of:
                return False
            if isinstance(part, at.Predicate) and not part.func(value):
                return False
        except TypeError:  # a value of another type (a union's other branch): not this constraint's business
            continue
    return True


def _is_sequence(origin: Any, annotation: Any) -> bool:
    return origin in (list, tuple, Sequence, typing.Sequence) or annotation in (list, tuple)


def describe(annotation: Any) -> str:
    """Every constraint in an annotation, for ``zoo info``: ``> 0``, ``non-empty; each item > 0``; "" when none."""
    base, found = _metadata(annotation)
    own = " and ".join(text for text in map(_phrase, found) if text)  # this level's: `> 0 and <= 1024`
    texts = [own] if own else []
    origin, args = typing.get_origin(base), typing.get_args(base)
    if origin in (typing.Union, types.UnionType):
        texts += [text for text in map(describe, args) if text and text not in texts]
    elif _is_sequence(origin, base) and args:
        if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            inner = [describe(a) for a in args]
            if any(inner):
                texts.append("items " + ", ".join(text or "any" for text in inner))
        elif describe(args[0]):
            texts.append(f"each item {describe(args[0])}")
    elif (origin is dict) and len(args) == 2 and describe(args[1]):
        texts.append(f"each value {describe(args[1])}")
    return "; ".join(texts)


def violations(value: Any, annotation: Any, name: str, matches: Callable[[Any, Any], bool]) -> list[str]:
    """What is wrong with ``value`` (already of the right type) against ``annotation``'s constraints.

    Each entry is a message such as ``"`num_classes` must be > 0, got -3"``; items of a list are
    named by index (``channels[1]``). ``matches(value, type)`` picks the branch of a union.
    """
    base, found = _metadata(annotation)
    origin, args = typing.get_origin(base), typing.get_args(base)
    problems: list[str] = []
    if origin in (typing.Union, types.UnionType):
        branch = next((a for a in args if matches(value, a)), None)
        if branch is not None:
            problems += violations(value, branch, name, matches)
    elif _is_sequence(origin, base) and args and isinstance(value, list):
        fixed = origin is tuple and not (len(args) == 2 and args[1] is Ellipsis)
        for index, item in enumerate(value):
            item_type = (args[index] if index < len(args) else None) if fixed else args[0]
            problems += violations(item, item_type, f"{name}[{index}]", matches)
    elif origin is dict and len(args) == 2 and isinstance(value, dict):
        for key, item in value.items():
            problems += violations(item, args[1], f"{name}[{key!r}]", matches)
    for constraint in found:
        if not _holds(constraint, value):
            why = getattr(constraint, "why", "")  # flexzoo.plugin.helpers.Bound
            shown = f"a list of {len(value):,} items" if isinstance(value, list) and len(value) > 16 else repr(value)
            problems.append(f"`{name}` must be {_phrase(constraint)}, got {shown}" + (f": {why}" if why else ""))
    return problems
