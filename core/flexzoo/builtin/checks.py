"""Value constraints shared by the builtin factories, as annotations the static check and `zoo info` read."""

from __future__ import annotations

from typing import Annotated

from annotated_types import Ge, Gt, Interval, MinLen

__all__ = ["NonNegative", "Positive", "PositiveFloat", "Probability", "Sizes"]

Positive = Annotated[int, Gt(0)]
NonNegative = Annotated[int, Ge(0)]
PositiveFloat = Annotated[float, Gt(0)]
Probability = Annotated[float, Interval(ge=0, lt=1)]
Sizes = Annotated[list[Positive], MinLen(1)]  # layer widths: at least one, each positive
