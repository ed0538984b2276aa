"""Issue 16: step time of 2 DDP ranks against 1 process, and of ZeRO (stages 1 and 2) against DDP.

Each configuration runs bench/sharding_child.py (under torchrun for 2 ranks, 1 thread per rank) on
the same MLP with AdamW (two state tensors per parameter), a global batch of 64 split over the ranks,
and reports the median time of one training step and the optimizer state each rank holds. The
machine this was written on has 2 cores shared with other work: 2 ranks there cannot run faster
than 1 process, so read the step-time rows as the cost of the collectives, not as a speed-up.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

from common import Row

HERE = Path(__file__).parent
ROUNDS = 2
STEPS = 40
SMOKE = {"ROUNDS": 1, "STEPS": 2}
MANIFEST = """
[model]
name = "sharding"
seed = 0
input_shape = [1, 8, 8]

[backbone]
use = "mlp"
widths = [512, 512, 512, 512]

[heads.digit]
use = "linear"
num_classes = 10

[heads.parity]
use = "linear"
num_classes = 2
"""
RUNS = {"single": ("single",), "ddp": ("ddp",), "zero-1": ("zero", "stage=1"), "zero-2": ("zero", "stage=2")}


def run(directory: Path, name: str, manifest: Path) -> list[dict]:
    """Each rank's result for the configuration ``name``."""
    out = directory / name
    out.mkdir(exist_ok=True)
    child = [str(HERE / "sharding_child.py"), str(manifest), str(out), str(STEPS), *RUNS[name]]
    ranks = [] if name == "single" else ["-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
    subprocess.run([sys.executable, *ranks, *child], check=True, capture_output=True, timeout=600)
    return [json.loads(path.read_text()) for path in sorted(out.glob("rank*.json"))]


def measure() -> list[Row]:
    with tempfile.TemporaryDirectory() as name:
        directory = Path(name)
        manifest = directory / "sharding.toml"
        manifest.write_text(textwrap.dedent(MANIFEST))
        steps: dict[str, list[float]] = {key: [] for key in RUNS}
        state: dict[str, list[int]] = {}
        for _ in range(ROUNDS):  # interleaved, so that load from other work falls on every configuration
            for key in RUNS:
                ranks = run(directory, key, manifest)
                steps[key].append(max(rank["step_s"] for rank in ranks))  # a step ends when the slowest rank's does
                state[key] = [rank["optimizer_state_bytes"] for rank in ranks]
    step = {key: statistics.median(values) for key, values in steps.items()}
    note = (f"MLP 64-512-512-512-512 + 2 linear heads, AdamW, global batch 64, median of {STEPS} steps, median of "
            f"{ROUNDS} interleaved runs; 2 ranks x 1 thread on a 2-core machine shared with other work")
    per_rank = lambda key: ", ".join(f"{b / 2**20:.2f} MiB" for b in state[key])  # noqa: E731
    return [
        Row("step time: 2 DDP ranks vs 1 process", step["ddp"] * 1e3, step["single"] * 1e3, "ms", note=note),
        Row("step time: zero stage 1 (ZeroRedundancyOptimizer) vs ddp, 2 ranks", step["zero-1"] * 1e3,
            step["ddp"] * 1e3, "ms", note=note),
        Row("step time: zero stage 2 (FSDP2 SHARD_GRAD_OP) vs ddp, 2 ranks", step["zero-2"] * 1e3,
            step["ddp"] * 1e3, "ms", note=note),
        Row("optimizer state per rank: zero stage 1 vs ddp, 2 ranks", max(state["zero-1"]) / 2**20,
            max(state["ddp"]) / 2**20, "MiB", target=0.55,
            note=f"largest rank; ddp per rank {per_rank('ddp')}, zero stage 1 per rank {per_rank('zero-1')} "
                 "(ZeroRedundancyOptimizer partitions whole parameters, so the split is only as even as their sizes)"),
        Row("optimizer state of both ranks together: zero stage 1 vs one ddp rank", sum(state["zero-1"]) / 2**20,
            max(state["ddp"]) / 2**20, "MiB", target=1.0,
            note="1.0: each state tensor is held by exactly one rank (none duplicated)"),
        Row("optimizer state per rank: zero stage 2 vs ddp, 2 ranks", max(state["zero-2"]) / 2**20,
            max(state["ddp"]) / 2**20, "MiB", target=0.55, note=f"largest rank; per rank {per_rank('zero-2')}"),
    ]
