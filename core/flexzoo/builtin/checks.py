"""Value checks shared by the builtin factories (they raise ParameterError, which names the key)."""

from __future__ import annotations

from collections.abc import Sequence

from flexzoo.plugin import ParameterError


def positive(name: str, value: int) -> None:
    if value <= 0:
        raise ParameterError(name, f"must be positive, got {value}")


def all_positive(name: str, values: Sequence[int], *, allow_empty: bool = False) -> None:
    if not values and not allow_empty:
        raise ParameterError(name, "must not be empty")
    bad = [v for v in values if v <= 0]
    if bad:
        raise ParameterError(name, f"must hold positive sizes, got {list(values)}")


def probability(name: str, value: float) -> None:
    if not 0.0 <= value < 1.0:
        raise ParameterError(name, f"must be in [0, 1), got {value}")
