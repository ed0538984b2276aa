"""``[backbone] freeze``: which parameters training leaves as they are."""

from __future__ import annotations

import fnmatch
from typing import TYPE_CHECKING

from flexzoo.features.lora.training import adapter_parameter_names
from flexzoo.host.registry import closest

if TYPE_CHECKING:
    from torch import nn

__all__ = ["FreezeProblem", "frozen_parameter_names"]


class FreezeProblem(ValueError):
    """A freeze pattern that selects nothing; carries a message and a fix for ``backbone.freeze``."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


def frozen_parameter_names(model: nn.Module, freeze: bool | list[str]) -> list[str]:
    """The backbone parameters ``freeze`` selects, as ``backbone.<name>``; a pattern matching none is an error.

    LoRA adapters (``[train.lora]``) are never frozen: they are what trains when the backbone is.
    """
    adapters = adapter_parameter_names(model.backbone)
    names = [name for name, _ in model.backbone.named_parameters() if name not in adapters]
    if freeze is True:
        return [f"backbone.{n}" for n in names]
    if not freeze:
        return []
    selected: list[str] = []
    for pattern in freeze:
        matched = [n for n in names if fnmatch.fnmatchcase(n, pattern)]
        if not matched:
            near = closest(pattern, names) or names[:3]
            raise FreezeProblem(f"freeze pattern `{pattern}` matches no backbone parameter",
                                "backbone parameters are named like " + ", ".join(f"`{n}`" for n in near))
        selected += [f"backbone.{n}" for n in matched if f"backbone.{n}" not in selected]
    return selected
