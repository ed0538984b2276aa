"""What every sample a data source yields is held to, where it enters training (the builtin's and a plugin's alike).

A sample's targets must have the names, per-sample shapes and kind (integer classes or float values) of the
data's targets, finite values, and classes within what the head trained on them outputs; an image is converted
to the mode of ``[model] input_shape``'s channels (grey or RGB), as the builtin sources open theirs. A
problem is a reason string: the data set turns it into a bad sample, refused or skipped by ``[train]
on_bad_sample``, named with its source and index.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["IMAGE_MODES", "TargetRule", "as_input_mode", "target_problem", "target_rules"]

#: PIL's mode for an image input of 1 or 3 channels.
IMAGE_MODES = {1: "L", 3: "RGB"}


@dataclass(frozen=True)
class TargetRule:
    """What one target of every sample must be: its shape per sample, its kind, and its classes (when a head's)."""

    shape: tuple[int, ...]
    floating: bool
    classes: int | None = None

    def with_classes(self, classes: int) -> TargetRule:
        return TargetRule(self.shape, self.floating, classes)


def target_rules(targets: Mapping[str, Any]) -> dict[str, TargetRule]:
    """The rules the data's listed targets (one row per sample) set for every sample's."""
    rules = {}
    for name, values in targets.items():
        array = np.asarray(values)
        rules[name] = TargetRule(tuple(array.shape[1:]), bool(np.issubdtype(array.dtype, np.floating)))
    return rules


def _kind(floating: bool) -> str:
    return "float values" if floating else "integer classes"


def target_problem(targets: Mapping[str, Any], rules: Mapping[str, TargetRule]) -> str:
    """Why a sample's ``targets`` break ``rules`` ("" when they do not)."""
    if not isinstance(targets, Mapping):
        return f"its targets are {type(targets).__name__}, not a mapping of target name to value"
    if set(targets) != set(rules):
        return (f"it has targets {', '.join(sorted(map(str, targets))) or 'none'}, where the data's are "
                f"{', '.join(sorted(rules))}")
    for name, rule in rules.items():
        try:
            value = np.asarray(targets[name])
        except Exception as exc:  # a value numpy cannot hold: reported, not raised
            return f"target `{name}` cannot be read as an array ({type(exc).__name__}: {exc})"
        if value.dtype.kind not in "biuf":
            return f"target `{name}` is of dtype {value.dtype}; targets are integer classes or float values"
        floating = value.dtype.kind == "f"
        if tuple(value.shape) != rule.shape:
            return f"target `{name}` has shape {list(value.shape)}, where the data's have {list(rule.shape)}"
        if floating and not np.isfinite(value).all():
            return f"target `{name}` holds NaN or infinite values"
        if floating and not rule.floating:
            return f"target `{name}` holds {_kind(floating)}, where the data's hold {_kind(rule.floating)}"
        if rule.classes is not None and value.size and (value.min() < 0 or value.max() >= rule.classes):
            wrong = value.min() if value.min() < 0 else value.max()
            return (f"target `{name}` is class {wrong}, outside the 0..{rule.classes - 1} the head trained on it "
                    "outputs")
    return ""


def as_input_mode(image: Any, input_shape: tuple[int, ...] | None) -> Any:
    """A PIL image in the mode of ``input_shape``'s channels (grey, or RGB); as it is without a known mode."""
    mode = IMAGE_MODES.get(input_shape[0]) if input_shape and len(input_shape) == 3 else None
    if mode is None or image.mode == mode:
        return image
    return image.convert(mode)
