"""Issues 2 and 28: `zoo list`, `--help` and `--version` start-up against Python and torch imports;
assembled forward against plain torch."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import torch
from torch import nn
from wheel_install import startup_env, wheel_venv

import flexzoo.builtin
from common import Row, command_seconds, median_seconds_interleaved
from flexzoo.builtin.layers import ConvBackbone, mlp_layers
from flexzoo.host.registry import Registry

REPEATS = 15
FORWARD_REPEATS = 300
WARMUP = 1
#: Time the commands of flexzoo installed from wheels (bench/wheel_install.py), as users have it; the smoke times
#: this interpreter's own install instead (building the wheels takes half a minute).
WHEELS = True
SMOKE = {"REPEATS": 1, "FORWARD_REPEATS": 3, "WARMUP": 0, "WHEELS": False}


def listing() -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="flexzoo-startup-") as folder:
        if WHEELS:
            bin_folder = wheel_venv(Path(folder))
            python, zoo = str(bin_folder / "python"), [str(bin_folder / "zoo")]
            how = ("flexzoo and its plugins installed from wheels in a venv that links this one's other packages; "
                   "`zoo` is pip's console script, every command the median of interleaved runs after a warm-up run "
                   "(which writes flexzoo's caches: the entry points, the listed libraries' versions, zoo list's "
                   "listing)")
        else:
            python, zoo = sys.executable, [sys.executable, "-m", "flexzoo"]
            how = "smoke: this interpreter's install (editable in a checkout), `python -m flexzoo`"
        zoo_list, bare, torch_import, help_, version = command_seconds(
            [[*zoo, "list"], [python, "-c", "pass"], [python, "-c", "import torch"], [*zoo, "--help"],
             [*zoo, "--version"]], REPEATS, env=startup_env(Path(folder) / "cache"), warmup=WARMUP)
    return [
        Row("zoo list vs import torch", zoo_list, torch_import, "s", target=0.15,
            note=f"python -c pass: {bare * 1000:.0f} ms; zoo list: {zoo_list * 1000:.0f} ms; "
                 f"import torch: {torch_import * 1000:.0f} ms"),
        # issue 28: start-up where users wait, against the interpreter's own
        Row("zoo list vs python -c pass", zoo_list, bare, "s", target=3.0, note=how),
        Row("zoo --help vs python -c pass", help_, bare, "s", target=2.0),
        Row("zoo --version vs python -c pass", version, bare, "s", target=2.0),
    ]


class HandWritten(nn.Module):
    """The digits example's architecture written directly in torch."""

    def __init__(self) -> None:
        super().__init__()
        self.backbone = ConvBackbone(1, [32, 64], 1, 3, "relu", 0.0, 0.05)
        self.digit = nn.Linear(64, 10)
        self.parity = mlp_layers(64, [32], 2, "relu", 0.0)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        features = self.backbone(x)
        return {"digit": self.digit(features), "parity": self.parity(features)}


def forward() -> list[Row]:
    registry = Registry.from_modules({"builtin": flexzoo.builtin})
    from pathlib import Path

    model = flexzoo.build(Path(__file__).parents[1] / "examples" / "digits.toml", registry)
    hand = HandWritten().eval()
    hand.backbone.load_state_dict(model.backbone.state_dict())
    hand.digit.load_state_dict(model.heads["digit"][0].state_dict())
    hand.parity.load_state_dict(model.heads["parity"].state_dict())
    x = torch.randn(64, 1, 8, 8)
    with torch.no_grad():
        assert all(torch.equal(model(x)[k], hand(x)[k]) for k in ("digit", "parity"))
        built, plain = median_seconds_interleaved([lambda: model(x), lambda: hand(x)], FORWARD_REPEATS,
                                                  warmup=20 * WARMUP)
    return [Row("forward: built vs hand-written", built, plain, "s", target=1.02,
                note=f"digits CNN, batch 64, same weights, outputs equal, median of {FORWARD_REPEATS} "
                     "interleaved calls")]


def measure() -> list[Row]:
    torch.set_num_threads(1)
    return listing() + forward()
