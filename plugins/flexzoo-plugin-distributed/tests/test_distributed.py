"""DDP and FSDP with real processes (gloo on CPU): same weights as one rank, clean failures, torchrun directly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from distributed_runs import assert_same_run, ranks_of, write_manifest, zoo

import flexzoo_plugin_distributed
from flexzoo.testing import registry_of

pytestmark = pytest.mark.processes  # servers, ranks, signals: `make test-flaky` runs them 10 times


def test_the_plugin_offers_ddp_fsdp_and_zero():
    registry = registry_of(flexzoo_plugin_distributed, builtin=False)
    assert [c.name for c in registry.components("strategy")] == ["ddp", "fsdp", "zero"]


@pytest.mark.slow
def test_two_ddp_ranks_match_one_rank(tmp_path, one_rank):
    result = zoo("train", str(write_manifest(tmp_path, "ddp")), "-o", str(tmp_path / "out"), "--nproc", "2", "-q")
    assert result.returncode == 0, result.stderr
    assert_same_run(tmp_path / "out" / "ranks.safetensors", one_rank)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["ranks.safetensors", "ranks.train"]


@pytest.mark.slow
def test_two_fsdp_ranks_under_torchrun_match_one_rank(tmp_path, one_rank):
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
               "-m", "flexzoo", "train", str(write_manifest(tmp_path, "fsdp")), "-o", str(tmp_path / "out"), "-q"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr
    assert_same_run(tmp_path / "out" / "ranks.safetensors", one_rank)


def test_several_ranks_need_a_distributed_strategy(tmp_path):
    result = zoo("train", str(write_manifest(tmp_path, "single")), "--nproc", "2", "-o", str(tmp_path))
    assert result.returncode == 1
    assert 'add [distributed] with use = "ddp"' in result.stderr and "Traceback" not in result.stderr


@pytest.mark.slow
def test_a_killed_rank_ends_the_run_with_an_error(tmp_path):
    out = tmp_path / "out"
    launcher = subprocess.Popen(
        [sys.executable, "-m", "flexzoo", "train", str(write_manifest(tmp_path, "ddp", epochs=500)), "-o", str(out),
         "--nproc", "2", "-q"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not (out / "ranks.train" / "checkpoint.safetensors").exists() and time.monotonic() < deadline:
            assert launcher.poll() is None, launcher.communicate()[1]
            time.sleep(0.05)
        ranks = ranks_of(launcher.pid)
        assert sorted(ranks) == [0, 1]
        os.kill(ranks[1], signal.SIGKILL)
        killed_at = time.monotonic()
        _, stderr = launcher.communicate(timeout=60)
    finally:
        if launcher.poll() is None:
            launcher.kill()
    assert launcher.returncode == 1
    assert "rank 1 was killed by SIGKILL" in stderr and "Traceback" not in stderr
    assert time.monotonic() - killed_at < 60
    time.sleep(0.5)
    assert all(not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()
               for pid in ranks.values())


@pytest.mark.parametrize("kind", ["SGD", "Adam", "AdamW"])
def test_zero_keeps_the_trainers_optimizer_and_its_steps(kind):
    import torch

    make = {"SGD": lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True),
            "Adam": lambda p: torch.optim.Adam(p, lr=0.01, betas=(0.8, 0.9)),
            "AdamW": lambda p: torch.optim.AdamW(p, lr=0.01, weight_decay=0.1)}[kind]
    torch.manual_seed(0)
    plain_model = torch.nn.Linear(4, 3)
    zero_model = torch.nn.Linear(4, 3)
    zero_model.load_state_dict(plain_model.state_dict())
    strategy = registry_of(flexzoo_plugin_distributed, builtin=False).resolve("strategy", "zero") \
        .component.factory()
    strategy.setup()  # a group of one
    try:
        plain = make(plain_model.parameters())
        sharded = strategy.wrap_optimizer(zero_model, make(zero_model.parameters()))
        assert type(sharded.optim) is type(plain) and sharded.param_groups[0]["lr"] == plain.param_groups[0]["lr"]
        x = torch.randn(8, 4)
        for optimizer, model in ((plain, plain_model), (sharded, zero_model)):
            for _ in range(3):
                model(x).square().sum().backward()
                optimizer.step()
                optimizer.zero_grad()
        for a, b in zip(plain_model.parameters(), zero_model.parameters()):
            torch.testing.assert_close(a, b, rtol=0, atol=1e-6)
    finally:
        strategy.teardown()
