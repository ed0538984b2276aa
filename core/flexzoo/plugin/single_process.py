"""One process, the model as it is: the default strategy, and the base class for others.

It implements every member of :class:`flexzoo.plugin.protocols.Strategy`; a plugin's strategy subclasses it
(``from flexzoo.plugin import SingleProcess``) and overrides what it does differently.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

__all__ = ["SingleProcess"]

if TYPE_CHECKING:
    import torch
    from torch import nn


@dataclass
class SingleProcess:
    """Runs the model in this process; nothing to set up, reduce or tear down."""

    world_size: int = 1
    rank: int = 0
    local_rank: int = 0

    def setup(self) -> None:
        """Nothing to set up."""

    def wrap(self, model: nn.Module) -> nn.Module:
        """The model itself."""
        return model

    def model_state(self, wrapped: nn.Module) -> dict[str, torch.Tensor]:
        """The full state dict, on the CPU."""
        return {name: tensor.detach().cpu() for name, tensor in wrapped.state_dict().items()}

    def optimizer_state(self, wrapped: nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
        """The optimizer's state dict."""
        return optimizer.state_dict()

    def load_optimizer_state(self, wrapped: nn.Module, optimizer: torch.optim.Optimizer, state: dict[str, Any]
                             ) -> None:
        """Restore what :meth:`optimizer_state` returned."""
        optimizer.load_state_dict(state)

    def all_reduce(self, tensor: torch.Tensor) -> torch.Tensor:
        """The sum over ranks: the tensor itself."""
        return tensor

    def barrier(self) -> None:
        """Nothing to wait for."""

    def teardown(self) -> None:
        """Nothing to tear down."""

