"""The builtin strategy: one process, the model as it is."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import nn


@dataclass
class SingleProcess:
    """Runs the model in this process; nothing to set up or tear down."""

    world_size: int = 1
    rank: int = 0

    def setup(self) -> None:
        """Nothing to set up."""

    def wrap(self, model: nn.Module) -> nn.Module:
        """The model itself."""
        return model

    def teardown(self) -> None:
        """Nothing to tear down."""


def single() -> SingleProcess:
    """One process, no wrapping (the default strategy)."""
    return SingleProcess()
