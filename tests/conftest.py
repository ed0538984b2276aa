"""Shared fixtures: a registry of explicit plugins, manifest files, real plugin distributions, the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

import flexzoo.builtin
from flexzoo.host.registry import Registry
from flexzoo.testing.distributions import make_distribution

DIGITS = Path(__file__).resolve().parents[1] / "examples" / "digits.toml"

TINY_MANIFEST = """
[model]
name = "tiny"
seed = 0
input_shape = [1, 8, 8]

[backbone]
use = "cnn"
channels = [4, 8]

[heads.digit]
use = "linear"
num_classes = 10

[heads.parity]
use = "mlp"
num_classes = 2
hidden = [8]

[[init]]
use = "kaiming_normal"
match = "backbone.*"
"""


@pytest.fixture
def registry() -> Registry:
    """The builtin plugin alone, independent of what else is installed."""
    return Registry.from_modules({"builtin": flexzoo.builtin})


@pytest.fixture
def manifest_file(tmp_path: Path) -> Callable[[str], Path]:
    """Write manifest text (dedented) to a file and return its path."""

    def write(text: str, name: str = "model.toml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
        return path

    return write


class Zoo:
    """Runs the real ``zoo`` CLI in a subprocess, with extra plugin directories on its path."""

    def __init__(self, tmp_path: Path) -> None:
        self.site = tmp_path / "site"
        # The plugin directory first, then the caller's path (a checkout under test stays the flexzoo imported).
        path = os.pathsep.join(filter(None, [str(self.site), os.environ.get("PYTHONPATH")]))
        self.env = {**os.environ, "PYTHONPATH": path, "FLEXZOO_CACHE_DIR": str(tmp_path / "cache")}
        self.env.pop("FLEXZOO_BLOCK_PLUGINS", None)

    def __call__(self, *args: str, env: dict[str, str] | None = None, timeout: float = 120
                 ) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "flexzoo", *args], capture_output=True, text=True,
                              env={**self.env, **(env or {})}, timeout=timeout)

    def json(self, *args: str, env: dict[str, str] | None = None) -> object:
        result = self(*args, "--json", env=env)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    def install(self, dist: str, version: str, modules: dict[str, str], entry_points: dict[str, str],
                keywords: str = "") -> None:
        make_distribution(self.site, dist, version, modules, entry_points, keywords=keywords)


@pytest.fixture
def zoo(tmp_path: Path) -> Zoo:
    return Zoo(tmp_path)
