"""ZeRO stage 1 on torch's ``ZeroRedundancyOptimizer``: DDP replicas, optimizer state sharded across ranks.

Each rank keeps the optimizer state (momentum, Adam's moments) of its partition of the parameters
only, steps that partition and broadcasts it; gradients are still averaged by DDP. A checkpoint
needs the whole state on rank 0: ``consolidate_state_dict`` gathers it there for the snapshot, and
on resume every rank takes its partition back from that full state.
"""

from __future__ import annotations

import inspect
from typing import Any

import torch
from torch import nn

from flexzoo_plugin_distributed.process_group import DataParallel


class ZeroRedundancy(DataParallel):
    """``zero`` stage 1: ``DistributedDataParallel`` and the trainer's optimizer made a ``ZeroRedundancyOptimizer``."""

    def wrap_optimizer(self, wrapped: nn.Module, optimizer: torch.optim.Optimizer) -> torch.optim.Optimizer:
        """The same optimizer (class, groups, hyper-parameters) with its state partitioned across ranks."""
        from torch.distributed.optim import ZeroRedundancyOptimizer

        kind = type(optimizer)
        # defaults may hold more than the constructor takes (AdamW's decoupled_weight_decay, say)
        accepted = inspect.signature(kind).parameters
        defaults = {key: value for key, value in optimizer.defaults.items() if key in accepted}
        groups = [dict(group) for group in optimizer.param_groups]
        return ZeroRedundancyOptimizer(groups, optimizer_class=kind, **defaults)

    def optimizer_state(self, wrapped: nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
        """Collective: every rank sends its partition's state to rank 0, which returns the whole of it."""
        optimizer.consolidate_state_dict(to=0)
        return optimizer.state_dict() if self.rank == 0 else {}

    def load_optimizer_state(self, wrapped: nn.Module, optimizer: torch.optim.Optimizer, state: dict[str, Any]
                             ) -> None:
        """Each rank keeps its partition of the full state (any number of ranks may have written it)."""
        optimizer.load_state_dict(state)

