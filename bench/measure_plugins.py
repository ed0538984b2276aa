"""Issue 3: `zoo list` start-up with 200 installed distributions, 20 of them plugins; issue 14: with every first-party
plugin installed. Both against import torch."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from common import Row, command_seconds
from flexzoo.testing.distributions import make_distribution

DISTRIBUTIONS = 200
PLUGINS = 20
REPEATS = 15
WARMUP = 1
SMOKE = {"DISTRIBUTIONS": 4, "PLUGINS": 2, "REPEATS": 1, "WARMUP": 0}
PLUGIN_MODULE = """
import flexzoo

def part(input_shape: tuple, width: int = 8):
    '''A backbone.'''
    import torch
    return torch.nn.Flatten()

@flexzoo.hookimpl
def flexzoo_backbones():
    return [flexzoo.Component("part", part)]
"""


def populate(site: Path) -> None:
    """180 ordinary distributions and 20 flexzoo plugins, each a real dist-info."""
    for index in range(DISTRIBUTIONS - PLUGINS):
        make_distribution(site, f"bench-package-{index:03d}", "1.0", {f"bench_package_{index:03d}": ""},
                          {f"tool{index}": f"bench_package_{index:03d}:main"}, group="console_scripts")
    for index in range(PLUGINS):
        module = f"flexzoo_plugin_bench{index:02d}"
        make_distribution(site, f"flexzoo-plugin-bench{index:02d}", "1.0", {module: PLUGIN_MODULE},
                          {f"bench{index:02d}": module}, keywords="flexzoo-plugin-api-1")


def first_party() -> list[Row]:
    """Issue 14: `zoo list` with every first-party plugin installed (timm, torchvision, onnx... as `make venv` does)."""
    from flexzoo.host.registry import default_registry

    python = sys.executable
    plugins = sorted(p.name for p in default_registry().plugins if p.status == "loaded")
    listing, torch_import = command_seconds([[python, "-m", "flexzoo", "list"], [python, "-c", "import torch"]],
                                            REPEATS, warmup=WARMUP)
    return [Row("zoo list, every first-party plugin vs import torch", listing, torch_import, "s", target=0.1,
                note=f"plugins loaded: {', '.join(plugins)}; zoo list: {listing * 1000:.0f} ms, import torch: "
                     f"{torch_import * 1000:.0f} ms")]


def measure() -> list[Row]:
    return first_party() + crowded()


def crowded() -> list[Row]:
    python = sys.executable
    with tempfile.TemporaryDirectory() as empty, tempfile.TemporaryDirectory() as crowded, \
            tempfile.TemporaryDirectory() as cache:
        populate(Path(crowded))
        # `env` sets each command's extra path entry; all start through it alike. The entry-point cache
        # is warm after each command's warm-up run; the last command shows the scan without it.
        base, many, torch_import, uncached = command_seconds(
            [["env", f"PYTHONPATH={empty}", f"FLEXZOO_CACHE_DIR={cache}", python, "-m", "flexzoo", "list"],
             ["env", f"PYTHONPATH={crowded}", f"FLEXZOO_CACHE_DIR={cache}", python, "-m", "flexzoo", "list"],
             ["env", f"PYTHONPATH={empty}", python, "-c", "import torch"],
             ["env", f"PYTHONPATH={crowded}", "FLEXZOO_NO_CACHE=1", python, "-m", "flexzoo", "list"]], REPEATS,
            warmup=WARMUP)
    per_distribution = (many - base) / DISTRIBUTIONS
    return [
        Row(f"zoo list, {DISTRIBUTIONS} dists ({PLUGINS} plugins) vs import torch", many, torch_import, "s",
            target=0.1, note=f"zoo list: {base * 1000:.0f} ms with no extra distribution, {many * 1000:.0f} ms "
                             f"with {DISTRIBUTIONS} (entry-point cache warm), {uncached * 1000:.0f} ms with "
                             f"FLEXZOO_NO_CACHE=1; import torch: {torch_import * 1000:.0f} ms"),
        Row("zoo list: added cost per installed distribution", per_distribution, base, "s",
            note=f"{per_distribution * 1e6:.0f} us per distribution (10% of them plugins, each imported), "
                 f"against zoo list's own {base * 1000:.0f} ms; uncached: "
                 f"{(uncached - base) / DISTRIBUTIONS * 1e6:.0f} us"),
    ]
