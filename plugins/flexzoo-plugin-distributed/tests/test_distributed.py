"""DDP and FSDP with real processes (gloo on CPU): same weights as one rank, clean failures, torchrun directly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import flexzoo.builtin
import flexzoo_plugin_distributed
from flexzoo.pipeline import train
from flexzoo.registry import Registry
from flexzoo.validation import load_manifest

# No normalization and no dropout: with the same global batch, ranks must reproduce one process exactly.
MANIFEST = """
[model]
name = "ranks"
seed = 5
input_shape = [1, 8, 8]

[backbone]
use = "mlp"
widths = [32, 16]

[heads.digit]
use = "linear"
num_classes = 10

[heads.parity]
use = "mlp"
num_classes = 2
hidden = [8]

[train]
data = "digits"
epochs = {epochs}
batch_size = 100
optimizer = "sgd"
lr = 0.1
momentum = 0.9
threads = 1

[distributed]
use = "{strategy}"
"""


def write_manifest(directory: Path, strategy: str, epochs: int = 1) -> Path:
    path = directory / f"{strategy}.toml"
    path.write_text(textwrap.dedent(MANIFEST.format(strategy=strategy, epochs=epochs)))
    return path


def zoo(*args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "flexzoo", *args], capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def one_rank(tmp_path_factory) -> tuple[dict[str, torch.Tensor], dict[str, float]]:
    """Weights and validation metrics of the run on one process."""
    directory = tmp_path_factory.mktemp("single")
    registry = Registry.from_modules({"builtin": flexzoo.builtin})
    result = train(load_manifest(write_manifest(directory, "single"), registry), directory, registry,
                   show_progress=False)
    return load_file(str(result.artifact)), result.history[-1]["validation"]


def assert_same_run(artifact: Path, one_rank: tuple[dict[str, torch.Tensor], dict[str, float]]) -> None:
    weights, validation = one_rank
    ranks = load_file(str(artifact))
    assert ranks.keys() == weights.keys()
    for name, tensor in weights.items():
        torch.testing.assert_close(ranks[name], tensor, rtol=0, atol=1e-5, msg=name)
    import json

    from flexzoo.artifact.format import read_artifact

    info = read_artifact(artifact).info["training"]
    assert info["world_size"] == 2
    assert json.loads(info["metrics_jsonl"].splitlines()[-1])["validation"] == pytest.approx(validation, abs=1e-5)


def test_the_plugin_offers_ddp_and_fsdp():
    registry = Registry.from_modules({"distributed": flexzoo_plugin_distributed})
    assert [c.name for c in registry.components("strategy")] == ["ddp", "fsdp"]


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


def ranks_of(launcher: int) -> dict[int, int]:
    """pid of each rank the launcher started, read from /proc (ranks are its children)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rpartition(")")[2].split()[1])
            environment = (entry / "environ").read_bytes().split(b"\0")
        except (OSError, IndexError, ValueError):
            continue
        rank = next((line[5:] for line in environment if line.startswith(b"RANK=")), None)
        if parent == launcher and rank is not None:
            found[int(rank)] = int(entry.name)
    return found


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
