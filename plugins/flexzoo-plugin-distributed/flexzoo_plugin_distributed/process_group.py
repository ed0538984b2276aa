"""DDP and FSDP2 strategies over one torch.distributed process group (the contract is in flexzoo.plugin.hookspecs)."""

from __future__ import annotations

import contextlib
import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from flexzoo.plugin import FlexzooError


def _backend(requested: str) -> str:
    if requested != "auto":
        return requested
    return "cpu:gloo,cuda:nccl" if torch.cuda.is_available() else "gloo"


class ProcessGroupStrategy:
    """Joins the process group torchrun describes (or makes a one-rank group) and leaves it cleanly."""

    def __init__(self, backend: str, timeout_s: float) -> None:
        self.backend = backend
        self.timeout_s = timeout_s
        self.rank, self.world_size, self.local_rank = 0, 1, 0
        self._owns_group = False

    def setup(self) -> None:
        if not dist.is_available():
            raise FlexzooError("this torch build has no torch.distributed; install a torch with distributed support")
        if not dist.is_initialized():
            timeout = timedelta(seconds=self.timeout_s)
            if "MASTER_ADDR" in os.environ and "WORLD_SIZE" in os.environ:
                dist.init_process_group(_backend(self.backend), timeout=timeout)  # env:// from torchrun
            else:  # started without torchrun: a group of one
                dist.init_process_group(_backend(self.backend), store=dist.HashStore(), rank=0, world_size=1,
                                        timeout=timeout)
            self._owns_group = True
        self.rank, self.world_size = dist.get_rank(), dist.get_world_size()
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))

    def all_reduce(self, tensor: torch.Tensor) -> torch.Tensor:
        dist.all_reduce(tensor)
        return tensor

    def barrier(self) -> None:
        dist.barrier()

    def teardown(self) -> None:
        """Leave the group; the barrier first avoids aborts at exit (seen in up to 5 of 8 runs without it)."""
        if not (self._owns_group and dist.is_initialized()):
            return
        with contextlib.suppress(Exception):  # a peer is gone: there is nothing left to wait for
            dist.barrier()
        dist.destroy_process_group()
        self._owns_group = False


_BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


class DataParallel(ProcessGroupStrategy):
    """``DistributedDataParallel``: a full replica per rank; gradients averaged in buckets.

    With ``sync_batchnorm`` each batch normalization becomes a ``SyncBatchNorm`` sharing its parameters
    and buffers for the run; ``teardown`` puts the originals back, so that the trained model is made of
    the manifest's own modules again (for compression, export and the artifact).
    """

    def __init__(self, backend: str, timeout_s: float, bucket_cap_mb: float, sync_batchnorm: bool = False) -> None:
        super().__init__(backend, timeout_s)
        self.bucket_cap_mb = bucket_cap_mb
        self.sync_batchnorm = sync_batchnorm
        self._replaced: list[tuple[nn.Module, str, nn.Module]] = []  # (parent, attribute, original)

    def wrap(self, model: nn.Module) -> nn.Module:
        from torch.nn.parallel import DistributedDataParallel

        if self.sync_batchnorm:
            self._synchronize_batch_norms(model)
        device = next(model.parameters()).device
        return DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None,
                                       bucket_cap_mb=self.bucket_cap_mb)

    def _synchronize_batch_norms(self, model: nn.Module) -> None:
        """Torch's SyncBatchNorm on GPUs, :class:`GlobalBatchNorm` elsewhere (both share the child's tensors)."""
        from flexzoo_plugin_distributed.batch_norm import GlobalBatchNorm

        on_gpu = next(model.parameters()).device.type == "cuda"
        for parent in list(model.modules()):
            for attribute, child in list(parent.named_children()):
                if isinstance(child, _BATCH_NORMS):
                    synchronized = (nn.SyncBatchNorm.convert_sync_batchnorm(child) if on_gpu
                                    else GlobalBatchNorm.sharing(child))
                    setattr(parent, attribute, synchronized)
                    self._replaced.append((parent, attribute, child))

    def teardown(self) -> None:
        for parent, attribute, original in reversed(self._replaced):
            setattr(parent, attribute, original)
        self._replaced.clear()
        super().teardown()

    def model_state(self, wrapped: nn.Module) -> dict[str, torch.Tensor]:
        return {name: tensor.detach().cpu() for name, tensor in wrapped.module.state_dict().items()}

    def optimizer_state(self, wrapped: nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
        return optimizer.state_dict()

    def load_optimizer_state(self, wrapped: nn.Module, optimizer: torch.optim.Optimizer, state: dict[str, Any]
                             ) -> None:
        optimizer.load_state_dict(state)


def _shard_units(model: nn.Module) -> list[nn.Module]:
    """Each child of the backbone with parameters and each head (any other model: its children with parameters)."""
    backbone, heads = getattr(model, "backbone", None), getattr(model, "heads", None)
    if isinstance(backbone, nn.Module) and isinstance(heads, nn.ModuleDict):
        candidates = [*backbone.children(), *heads.values()]
    else:
        candidates = list(model.children())
    return [unit for unit in candidates if any(True for _ in unit.parameters())]


class FullyShardedDataParallel(ProcessGroupStrategy):
    """FSDP2: ``fully_shard`` on each backbone child with parameters and on each head, then on the model."""

    def __init__(self, backend: str, timeout_s: float, reshard_after_forward: bool) -> None:
        super().__init__(backend, timeout_s)
        self.reshard_after_forward = reshard_after_forward

    def wrap(self, model: nn.Module) -> nn.Module:
        try:
            from torch.distributed.fsdp import fully_shard
        except ImportError:
            raise FlexzooError(f"fsdp needs FSDP2 (torch.distributed.fsdp.fully_shard, torch >= 2.6); this is torch "
                               f"{torch.__version__}; upgrade torch or use [distributed] use = \"ddp\"") from None
        try:
            for unit in _shard_units(model):
                fully_shard(unit, reshard_after_forward=self.reshard_after_forward)
            fully_shard(model, reshard_after_forward=self.reshard_after_forward)
        except (RuntimeError, NotImplementedError, AssertionError) as exc:
            raise FlexzooError(f"fsdp cannot shard this model on {next(model.parameters()).device.type} with "
                               f"backend {dist.get_backend()}: {exc}; use [distributed] use = \"ddp\"") from None
        return model

    def _options(self, **extra: bool) -> Any:
        from torch.distributed.checkpoint.state_dict import StateDictOptions

        return StateDictOptions(full_state_dict=True, **extra)

    def model_state(self, wrapped: nn.Module) -> dict[str, torch.Tensor]:
        from torch.distributed.checkpoint.state_dict import get_model_state_dict

        return get_model_state_dict(wrapped, options=self._options(cpu_offload=True))

    def optimizer_state(self, wrapped: nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
        from torch.distributed.checkpoint.state_dict import get_optimizer_state_dict

        return get_optimizer_state_dict(wrapped, optimizer, options=self._options(cpu_offload=True))

    def load_optimizer_state(self, wrapped: nn.Module, optimizer: torch.optim.Optimizer, state: dict[str, Any]
                             ) -> None:
        from torch.distributed.checkpoint.state_dict import set_optimizer_state_dict

        set_optimizer_state_dict(wrapped, optimizer, state, options=self._options())

    def save_sharded(self, wrapped: nn.Module, optimizer: torch.optim.Optimizer, directory: Path) -> None:
        """Every rank writes its shards of the model and optimizer (torch.distributed.checkpoint) to ``directory``."""
        import torch.distributed.checkpoint as dcp
        from torch.distributed.checkpoint.state_dict import get_state_dict

        model_state, optimizer_state = get_state_dict(wrapped, optimizer)
        dcp.save({"model": model_state, "optimizer": optimizer_state}, checkpoint_id=directory)

    def load_sharded(self, wrapped: nn.Module, optimizer: torch.optim.Optimizer, directory: Path) -> None:
        """Read this rank's shards back (resharded when the number of ranks changed)."""
        import torch.distributed.checkpoint as dcp
        from torch.distributed.checkpoint.state_dict import get_state_dict, set_state_dict

        model_state, optimizer_state = get_state_dict(wrapped, optimizer)
        state = {"model": model_state, "optimizer": optimizer_state}
        dcp.load(state, checkpoint_id=directory)
        set_state_dict(wrapped, optimizer, model_state_dict=state["model"], optim_state_dict=state["optimizer"])
