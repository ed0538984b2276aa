"""A factory's signature is its schema: types from annotations, defaults, docs."""

from __future__ import annotations

import functools
from typing import Literal

import pytest

from flexzoo.manifest import schema


def factory(size: int, ratio: float = 0.5, names: list[str] = ["a"], mode: Literal["x", "y"] = "x",  # noqa: B006
            shape: tuple[int, ...] = (1,), maybe: int | None = None, flag: bool = False):
    """Make something.

    Args:
        size: how big.
        ratio: a fraction,
            continued on a second line.
        names: labels.
    """


@pytest.mark.parametrize(("value", "annotation", "expected"), [
    (3, int, True), (True, int, False), (3.0, int, False), (3, float, True), (True, float, False),
    ("s", str, True), (False, bool, True), ([1, 2], list[int], True), ([1, "2"], list[int], False),
    ([1, 2], tuple[int, ...], True), ([1, 2], tuple[int, str], False), ([1, "a"], tuple[int, str], True),
    ("x", Literal["x", "y"], True), ("z", Literal["x", "y"], False), (None, int | None, True),
    (2, int | None, True), ({"a": 1}, dict[str, int], True), ({"a": "b"}, dict[str, int], False),
])
def test_values_are_checked_against_annotations(value, annotation, expected):
    assert schema.matches(value, annotation) is expected


def test_parameters_read_types_defaults_and_docs():
    specs = {p.name: p for p in schema.parameters(factory)}
    assert specs["size"].required and specs["size"].type_text == "int" and specs["size"].doc == "how big."
    assert specs["ratio"].default == 0.5 and specs["ratio"].doc == "a fraction, continued on a second line."
    assert specs["mode"].type_text == "'x' | 'y'"
    assert specs["shape"].type_text == "tuple[int, ...]"
    assert specs["maybe"].type_text == "int | None"


def test_partial_factories_hide_positionally_bound_arguments():
    names = [p.name for p in schema.parameters(functools.partial(factory, 3))]
    assert names == ["ratio", "names", "mode", "shape", "maybe", "flag"]
    specs = {p.name: p for p in schema.parameters(functools.partial(factory, size=7))}
    assert specs["size"].default == 7 and specs["ratio"].doc == "a fraction, continued on a second line."


def test_to_python_turns_lists_into_tuples_and_ints_into_floats():
    assert schema.to_python([1, 2], tuple[int, ...]) == (1, 2)
    assert schema.to_python(2, float) == 2.0 and isinstance(schema.to_python(2, float), float)
    assert schema.to_toml((1, (2, 3))) == [1, [2, 3]]
