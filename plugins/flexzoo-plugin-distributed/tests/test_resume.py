"""Resume under DDP, FSDP (sharded torch.distributed.checkpoint folders) and ZeRO (state gathered); SyncBatchNorm."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from distributed_runs import assert_same_run, ranks_of, single_run, write_manifest, zoo
from safetensors import safe_open

from flexzoo.training.checkpoint import checkpoint_state

pytestmark = pytest.mark.processes  # servers, ranks, signals: `make test-flaky` runs them 10 times

EPOCHS = 8


def kill_a_rank_after(run_dir, epoch: int, command: list[str]) -> None:
    """Start ``command`` (2 ranks), SIGKILL rank 1 once the checkpoint of ``epoch`` is written; it must fail."""
    launcher = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 180
        while not ((state := checkpoint_state(run_dir)) and state["epoch"] >= epoch):
            assert launcher.poll() is None, launcher.communicate()[1]
            assert time.monotonic() < deadline, "no checkpoint in 180 s"
            time.sleep(0.01)
        os.kill(ranks_of(launcher.pid)[1], signal.SIGKILL)
        _, stderr = launcher.communicate(timeout=60)
    finally:
        if launcher.poll() is None:
            launcher.kill()
    assert launcher.returncode == 1 and "rank 1 was killed by SIGKILL" in stderr, stderr


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["ddp", "fsdp", "zero"])
def test_a_killed_distributed_run_resumes_to_the_weights_of_one_process(tmp_path, strategy):
    manifest, out = str(write_manifest(tmp_path, strategy, epochs=EPOCHS)), tmp_path / "out"
    run_dir = out / "ranks.train"
    train = [sys.executable, "-m", "flexzoo", "train", manifest, "-o", str(out), "--nproc", "2", "-q"]
    kill_a_rank_after(run_dir, 2, train)
    stopped = checkpoint_state(run_dir)
    assert 2 <= stopped["epoch"] < EPOCHS and not (out / "ranks.safetensors").exists()
    with safe_open(str(run_dir / "checkpoint.safetensors"), framework="pt") as checkpoint:
        tensors = list(checkpoint.keys())
    if strategy == "fsdp":  # the shards are in the folder the checkpoint names, and only there
        assert tensors == [] and [p.name for p in run_dir.glob("shards-*")] == [stopped["shards"]]
        assert sorted(p.name for p in (run_dir / stopped["shards"]).iterdir())[0] == ".metadata"
    else:  # zero: each rank's partition of the momentum gathered into one file, a buffer for every parameter
        momenta = [name for name in tensors if name.startswith("optimizer.state.")]
        assert len(momenta) == sum(name.startswith("model.") for name in tensors) and "shards" not in stopped

    result = zoo(*train[3:], "--resume")
    assert result.returncode == 0, result.stderr
    assert_same_run(out / "ranks.safetensors", single_run(tmp_path, EPOCHS))
    assert not list(run_dir.glob("shards-*")) or strategy == "fsdp"


@pytest.mark.slow
def test_sync_batchnorm_makes_two_ranks_train_as_one_process(tmp_path):
    norm = 'norm = "batch"'
    manifest = write_manifest(tmp_path, "ddp", backbone=norm, distributed="sync_batchnorm = true")
    result = zoo("train", str(manifest), "-o", str(tmp_path / "out"), "--nproc", "2", "-q")
    assert result.returncode == 0, result.stderr
    assert_same_run(tmp_path / "out" / "ranks.safetensors", single_run(tmp_path, 1, backbone=norm))
