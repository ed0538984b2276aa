"""Several nodes through the c10d rendezvous: two `zoo train` launchers on 127.0.0.1, one rank each.

Two nodes of one rank are a world of two ranks, and ranks take their shares of the same global batch:
the reference is the run on one process (as for `--nproc 2`), the stronger claim of the two.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from distributed_runs import assert_same_run, free_port, ranks_of, write_manifest, zoo
from safetensors.torch import load_file

import flexzoo
from flexzoo.testing import read_artifact
from flexzoo.training.checkpoint import checkpoint_state

pytestmark = pytest.mark.processes  # servers, ranks, signals: `make test-flaky` runs them 10 times

RUN_TIMEOUT_S = 240


def start_node(manifest: Path, out: Path, node_rank: int, port: int, nnodes: str, *extra: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "flexzoo", "train", str(manifest), "-o", str(out), "-q", "--nnodes", nnodes,
               "--node-rank", str(node_rank), "--rdzv-endpoint", f"127.0.0.1:{port}", *extra]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(*nodes: subprocess.Popen) -> list[tuple[int, str]]:
    """Each node's exit status and stderr; any node still running after the timeout is killed."""
    results = []
    try:
        for node in nodes:
            _, stderr = node.communicate(timeout=RUN_TIMEOUT_S)
            results.append((node.returncode, stderr))
    finally:
        for node in nodes:
            if node.poll() is None:
                for pid in [*ranks_of(node.pid).values(), node.pid]:
                    os.kill(pid, signal.SIGKILL)
                node.wait()
    return results


def wait_for_checkpoint(run_dir: Path, world_size: int, epoch: int, *nodes: subprocess.Popen) -> None:
    """Poll the checkpoint until ``world_size`` ranks have written epoch ``epoch`` (nodes must stay up)."""
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while time.monotonic() < deadline:
        state = checkpoint_state(run_dir)
        if state and state["world_size"] == world_size and state["epoch"] >= epoch:
            return
        for node in nodes:
            assert node.poll() is None, node.communicate()[1]
        time.sleep(0.02)
    raise AssertionError(f"no checkpoint of epoch {epoch} by {world_size} ranks in {RUN_TIMEOUT_S} s")


def kill_node(node: subprocess.Popen) -> None:
    """What a machine that dies does: its launcher (the agent) and its ranks are gone at once."""
    ranks = ranks_of(node.pid)
    assert ranks, "the node has no rank to kill"
    for pid in [node.pid, *ranks.values()]:
        os.kill(pid, signal.SIGKILL)
    node.communicate(timeout=30)  # reads and closes its pipes


@pytest.mark.slow
def test_two_nodes_of_one_rank_match_one_process(tmp_path, one_rank):
    manifest, out, port = write_manifest(tmp_path, "ddp"), tmp_path / "out", free_port()
    nodes = [start_node(manifest, out, rank, port, "2") for rank in (0, 1)]
    for status, stderr in finish(*nodes):
        assert status == 0, stderr
    assert_same_run(out / "ranks.safetensors", one_rank)


@pytest.mark.slow
def test_an_elastic_run_goes_on_without_a_dead_node(tmp_path):
    epochs = 30
    manifest = write_manifest(tmp_path, "ddp", epochs=epochs, distributed="timeout_s = 30")
    out, port = tmp_path / "out", free_port()
    elastic = ("--rdzv-conf", "last_call_timeout=10")
    survivor, doomed = (start_node(manifest, out, rank, port, "1:2", *elastic) for rank in (0, 1))
    try:
        wait_for_checkpoint(out / "ranks.train", 2, 2, survivor, doomed)
        kill_node(doomed)
    finally:
        ((status, stderr),) = finish(survivor)
    assert status == 0, stderr
    restart = next(line for line in stderr.splitlines() if "elastic restart" in line)
    assert "the nodes met again as 1 rank(s); resuming after epoch" in restart, stderr
    assert "Traceback" not in stderr

    artifact = out / "ranks.safetensors"
    flexzoo.load(artifact)  # a valid artifact: hashes, plugins and weights check out
    training = read_artifact(artifact).info["training"]
    assert training["world_size"] == 1 and training["epochs_run"] == epochs
    epochs_recorded = [json.loads(line)["epoch"] for line in training["metrics_jsonl"].splitlines()]
    assert epochs_recorded == list(range(1, epochs + 1))
    # trained on: 2 ranks, then 1 (float sums in another order: close to one process's run, not equal)
    assert training["final_validation"]["digit.accuracy"] > 0.9
    assert all(torch.isfinite(t).all() for t in load_file(str(artifact)).values())


@pytest.mark.parametrize(("flags", "message"), [
    (["--nnodes", "2"], "--nnodes 2 needs --rdzv-endpoint HOST:PORT"),
    (["--nnodes", "3:1", "--rdzv-endpoint", "127.0.0.1:29400"], "--nnodes needs 1 <= MIN <= MAX, got '3:1'"),
    (["--nnodes", "2", "--node-rank", "2", "--rdzv-endpoint", "127.0.0.1:29400"], "--node-rank must be in 0..1"),
])
def test_bad_node_flags_get_one_clear_message(tmp_path, flags, message):
    result = zoo("train", str(write_manifest(tmp_path, "ddp")), "-o", str(tmp_path / "out"), *flags, timeout=60)
    assert result.returncode == 1 and message in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert not (tmp_path / "out").exists()
