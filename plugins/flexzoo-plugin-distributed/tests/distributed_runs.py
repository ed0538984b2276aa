"""What the distributed tests share: a manifest whose runs ranks must reproduce, the CLI, rank processes."""

from __future__ import annotations

import json
import random
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from flexzoo.artifact.format import read_artifact
from flexzoo.manifest.validation import load_manifest
from flexzoo.pipeline.stages import train
from flexzoo.testing import registry_of

# No normalization and no dropout: with the same global batch, ranks must reproduce one process exactly.
MANIFEST = """
[model]
name = "ranks"
seed = 5
input_shape = [1, 8, 8]

[backbone]
use = "mlp"
widths = [32, 16]
{backbone}

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
{train}
[distributed]
use = "{strategy}"
{distributed}
"""
PORTS = range(20000, 32000)  # below Linux's ephemeral range, where bind(0) and outgoing connections take ports


def write_manifest(directory: Path, strategy: str, epochs: int = 1, train: str = "", distributed: str = "",
                   backbone: str = "") -> Path:
    """The manifest for ``strategy`` with extra ``[backbone]``, ``[train]`` and ``[distributed]`` lines."""
    path = directory / f"{strategy}.toml"
    path.write_text(textwrap.dedent(MANIFEST.format(strategy=strategy, epochs=epochs, train=train,
                                                    distributed=distributed, backbone=backbone)))
    return path


def single_run(directory: Path, epochs: int, backbone: str = "") -> tuple[dict[str, torch.Tensor], dict]:
    """Weights and last validation metrics of the run in this process, on one rank."""
    registry = registry_of()
    manifest = load_manifest(write_manifest(directory, "single", epochs, backbone=backbone), registry)
    result = train(manifest, directory, registry, show_progress=False)
    return load_file(str(result.artifact)), result.history[-1]["validation"]


def free_port() -> int:
    """A port nothing listens on, drawn at random outside the ephemeral range (so no bind(0) can take it)."""
    for port in random.sample(PORTS, 200):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 20000-32000")


def zoo(*args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "flexzoo", *args], capture_output=True, text=True, timeout=timeout)


def assert_same_run(artifact: Path, one_rank: tuple[dict[str, torch.Tensor], dict[str, float]],
                    world_size: int = 2) -> None:
    """The artifact holds the weights and metrics of the one-rank run, trained by ``world_size`` ranks."""
    weights, validation = one_rank
    ranks = load_file(str(artifact))
    assert ranks.keys() == weights.keys()
    for name, tensor in weights.items():
        torch.testing.assert_close(ranks[name], tensor, rtol=0, atol=1e-5, msg=name)
    info = read_artifact(artifact).info["training"]
    assert info["world_size"] == world_size
    assert json.loads(info["metrics_jsonl"].splitlines()[-1])["validation"] == pytest.approx(validation, abs=1e-5)


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


