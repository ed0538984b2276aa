"""The strategies' factories: their parameters are the ``[distributed]`` keys (torch loads when they are called)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from flexzoo.plugin import ParameterError

if TYPE_CHECKING:
    from flexzoo_plugin_distributed.process_group import DataParallel, FullyShardedDataParallel
    from flexzoo_plugin_distributed.zero_redundancy import ZeroRedundancy

Backend = Literal["auto", "gloo", "nccl"]


def _check_timeout(timeout_s: float) -> None:
    if timeout_s <= 0:
        raise ParameterError("timeout_s", f"must be positive, got {timeout_s}")


def ddp(backend: Backend = "auto", timeout_s: float = 120.0, bucket_cap_mb: float = 25.0,
        sync_batchnorm: bool = False) -> DataParallel:
    """Distributed data parallel: the whole model on every rank, gradients averaged across ranks.

    Args:
        backend: process-group backend; auto is gloo for CPU tensors and NCCL for CUDA tensors.
        timeout_s: how long a collective waits for a missing rank before the run fails.
        bucket_cap_mb: size of the gradient buckets reduced together.
        sync_batchnorm: batch normalization over the whole global batch (SyncBatchNorm) instead of each
            rank's share: N ranks then train as one process does.
    """
    _check_timeout(timeout_s)
    if bucket_cap_mb <= 0:
        raise ParameterError("bucket_cap_mb", f"must be positive, got {bucket_cap_mb}")
    from flexzoo_plugin_distributed.process_group import DataParallel

    return DataParallel(backend=backend, timeout_s=timeout_s, bucket_cap_mb=bucket_cap_mb,
                        sync_batchnorm=sync_batchnorm)


def fsdp(backend: Backend = "auto", timeout_s: float = 120.0, reshard_after_forward: bool = True
         ) -> FullyShardedDataParallel:
    """Fully sharded data parallel (FSDP2 fully_shard): parameters, gradients and optimizer state sharded.

    Each child of the backbone with parameters and each head is one shard unit, then the whole model.
    Checkpoints are sharded (torch.distributed.checkpoint: each rank writes its shards); the artifact
    is one safetensors file of the gathered weights.

    Args:
        backend: process-group backend; auto is gloo for CPU tensors and NCCL for CUDA tensors.
        timeout_s: how long a collective waits for a missing rank before the run fails.
        reshard_after_forward: free gathered parameters after the forward pass (less memory, more traffic).
    """
    _check_timeout(timeout_s)
    from flexzoo_plugin_distributed.process_group import FullyShardedDataParallel

    return FullyShardedDataParallel(backend=backend, timeout_s=timeout_s,
                                    reshard_after_forward=reshard_after_forward)


def zero(backend: Backend = "auto", timeout_s: float = 120.0, stage: Literal[1, 2] = 1, bucket_cap_mb: float = 25.0
         ) -> ZeroRedundancy | FullyShardedDataParallel:
    """ZeRO data parallel on torch: optimizer state (stage 1) or also gradients (stage 2) sharded across ranks.

    Stage 1 is DDP with torch's ``ZeroRedundancyOptimizer``: each rank holds the optimizer state of
    1/N of the parameters; checkpoints gather the whole state on rank 0 (one file, as ddp's).
    Stage 2 is FSDP2 ``fully_shard`` with ``reshard_after_forward = false`` (FSDP's SHARD_GRAD_OP):
    gradients and optimizer state sharded, parameters gathered for forward and backward and sharded
    between steps; exactly ``use = "fsdp"`` with ``reshard_after_forward = false`` (sharded checkpoints).

    Args:
        backend: process-group backend; auto is gloo for CPU tensors and NCCL for CUDA tensors.
        timeout_s: how long a collective waits for a missing rank before the run fails.
        stage: 1 shards the optimizer state; 2 shards gradients and optimizer state too.
        bucket_cap_mb: stage 1: size of the gradient buckets DDP reduces together.
    """
    _check_timeout(timeout_s)
    if bucket_cap_mb <= 0:
        raise ParameterError("bucket_cap_mb", f"must be positive, got {bucket_cap_mb}")
    if stage == 2:
        from flexzoo_plugin_distributed.process_group import FullyShardedDataParallel

        return FullyShardedDataParallel(backend=backend, timeout_s=timeout_s, reshard_after_forward=False)
    from flexzoo_plugin_distributed.zero_redundancy import ZeroRedundancy

    return ZeroRedundancy(backend=backend, timeout_s=timeout_s, bucket_cap_mb=bucket_cap_mb)
