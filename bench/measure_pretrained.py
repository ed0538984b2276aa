"""`zoo build` with a cached pretrained resnet50 against timm by hand, and what the lock check adds.

Lays out a Hugging Face cache (in a temporary folder, offline) holding resnet50 weights made from the
real architecture under timm's default repository for resnet50, then times whole processes, median
of 3 after a warm-up, interleaved:

- ``zoo build`` of a manifest with ``pretrained = true`` and two linear heads (``--no-lock``);
- the same build with a ``MANIFEST.lock`` beside it (the lock check: commit and sha256);
- by hand: ``timm.create_model("resnet50", pretrained=True, num_classes=0)`` plus the two heads, and the
  same plus writing the weights with safetensors (``zoo build`` writes an artifact; the bare script does not);
- issue 28's row: the same manifest without ``pretrained`` (weights made here) against the script with
  ``pretrained=False`` and save_file, in wall and CPU seconds (CPU is steadier on a shared machine), with
  where zoo build's CPU goes (bench/build_phases.py: imports, dry run, build, card, write and hash, other);
  and against the same script ending as the ``zoo`` process does (``gc.freeze()`` before the exit, which
  spares the interpreter's last collections about 0.8 s after torch and timm are imported): what zoo build's
  own work costs, apart from the quicker exit.

    python bench/measure_pretrained.py
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from common import Row, command_seconds, command_wall_and_cpu

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from hub_cache import lay_out_repo, safetensors_bytes

REPEATS = 11  # the lock check's target is 2 %: five runs of a 4 s process moved it by 5 % between sessions
WARMUP = 1
MODEL = "resnet50"
SIZE = 224  # the input's height and width
# The smoke builds timm's smallest ResNet (5 M parameters, a default repository as resnet50 has) on 64x64.
SMOKE = {"REPEATS": 1, "WARMUP": 0, "MODEL": "resnet10t", "SIZE": 64}
MANIFEST = """[model]
name = "resnet50-pretrained"
input_shape = [3, {size}, {size}]

[backbone]
use = "timm:{model}"
pretrained = true

[heads.label]
use = "linear"
num_classes = 10

[heads.flag]
use = "linear"
num_classes = 2
"""
BY_HAND = """
import sys, timm, torch
from torch import nn
torch.manual_seed(0)
backbone = timm.create_model(sys.argv[1], pretrained=True, num_classes=0)
model = nn.ModuleDict({"backbone": backbone, "heads": nn.ModuleDict(
    {"label": nn.Linear(backbone.num_features, 10), "flag": nn.Linear(backbone.num_features, 2)})})
if len(sys.argv) > 2:
    from safetensors.torch import save_file
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, sys.argv[2])
"""


BY_HAND_FRESH = BY_HAND.replace("pretrained=True", "pretrained=False")
#: The script ending as the ``zoo`` process ends (flexzoo.cli.run): the objects alive are frozen before the exit.
BY_HAND_FRESH_QUICK_EXIT = BY_HAND_FRESH + "import gc\ngc.freeze()\n"


def fresh_build(folder: Path, env: dict[str, str]) -> list[Row]:
    """zoo build of the manifest without pretrained weights vs the hand-written script, and where the time goes."""
    import json
    import subprocess

    manifest = folder / "fresh.toml"
    manifest.write_text(MANIFEST.format(model=MODEL, size=SIZE).replace("pretrained = true\n", ""))
    commands = [[sys.executable, "-m", "flexzoo", "build", str(manifest), "-o", str(folder / "fresh")],
                [sys.executable, "-c", BY_HAND_FRESH, MODEL, str(folder / "fresh_by_hand.safetensors")],
                [sys.executable, "-c", BY_HAND_FRESH_QUICK_EXIT, MODEL, str(folder / "fresh_quick_exit.safetensors")]]
    (build, by_hand, quick_exit), (build_cpu, by_hand_cpu, _) = command_wall_and_cpu(commands, REPEATS, env,
                                                                                       warmup=WARMUP)
    done = subprocess.run([sys.executable, str(Path(__file__).parent / "build_phases.py"), str(manifest),
                           str(folder / "phases")], check=True, capture_output=True, text=True, env=env)
    phases = json.loads(done.stdout.strip().splitlines()[-1])
    breakdown = "zoo build CPU by phase: " + ", ".join(f"{name} {seconds:.3f} s" for name, seconds in phases.items())
    note = f"whole process, pretrained = false, median of {REPEATS} interleaved; {breakdown}"
    return [Row(f"zoo build, {MODEL} (weights made here) vs hand-written script + save_file, wall", build, by_hand,
                "s", target=1.05, note=note),
            Row(f"zoo build, {MODEL} (weights made here) vs hand-written script + save_file, CPU", build_cpu,
                by_hand_cpu, "s", target=1.05, note=note),
            Row(f"zoo build, {MODEL} (weights made here) vs the script ending as zoo does (gc.freeze), wall", build,
                quick_exit, "s", target=1.05, note="flexzoo's own work: both processes skip the last collections")]


def prepare(folder: Path) -> tuple[Path, dict[str, str]]:
    """The cache with resnet50 weights, the manifest, and the environment of the runs."""
    import timm
    import torch

    config = timm.models.get_pretrained_cfg(MODEL)
    torch.manual_seed(0)
    state = timm.create_model(MODEL).state_dict()
    lay_out_repo(folder / "hf", config.hf_hub_id, {"model.safetensors": safetensors_bytes(state)})
    (folder / "resnet50.toml").write_text(MANIFEST.format(model=MODEL, size=SIZE))
    env = {**os.environ, "HF_HUB_CACHE": str(folder / "hf"), "HF_HUB_OFFLINE": "1",
           "TORCH_HOME": str(folder / "torch")}
    return folder / "resnet50.toml", env


def measure() -> list[Row]:
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        manifest, env = prepare(folder)
        locked = folder / "locked" / "resnet50.toml"
        locked.parent.mkdir()
        locked.write_text(MANIFEST.format(model=MODEL, size=SIZE))
        zoo = [sys.executable, "-m", "flexzoo"]
        import subprocess

        subprocess.run([*zoo, "lock", str(locked)], check=True, capture_output=True, env=env)
        build, build_locked, by_hand, by_hand_saved = command_seconds([
            [*zoo, "build", str(manifest), "-o", str(folder / "out"), "--no-lock"],
            [*zoo, "build", str(locked), "-o", str(folder / "out-locked")],
            [sys.executable, "-c", BY_HAND, MODEL],
            [sys.executable, "-c", BY_HAND, MODEL, str(folder / "by_hand.safetensors")],
        ], REPEATS, env, warmup=WARMUP)
        fresh = fresh_build(folder, env)
    return [*fresh,
        Row(f"zoo build, cached pretrained {MODEL} vs timm by hand", build, by_hand, "s", target=1.05,
            note=f"whole process, median of {REPEATS}; zoo build also writes and hashes the artifact"),
        Row("zoo build vs timm by hand + save_file", build, by_hand_saved, "s", target=1.05,
            note="the by-hand script writes its weights too"),
        Row("lock check: zoo build with MANIFEST.lock vs --no-lock", build_locked, build, "s", target=1.02),
    ]


if __name__ == "__main__":
    for row in measure():
        print(f"{row.name}: {row.value_text()} vs {row.baseline_text()} = x{row.ratio:.3f} "
              f"(target {row.target_text()}, met {row.met_text()})" + (f"  [{row.note}]" if row.note else ""))
