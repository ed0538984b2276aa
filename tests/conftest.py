"""What the tests share beyond flexzoo.testing's fixtures (``registry``, ``manifest_file``; the root conftest
loads them): the tiny manifest, real plugin distributions, the CLI."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from flexzoo.testing import Manifest
from flexzoo.testing.distributions import make_distribution

DIGITS = Path(__file__).resolve().parents[1] / "examples" / "digits.toml"

#: The tiny two-head digits CNN most tests build: ``cnn`` [4, 8], heads ``digit`` and ``parity``, Kaiming init.
TINY = Manifest.digits(parity=True, init=[{"use": "kaiming_normal", "match": "backbone.*"}])
TINY_MANIFEST = TINY.toml()

#: The digits CNN that the explanation and robustness tests measure (about 97 % accuracy), trained once a session.
TRAINED_DIGITS = Manifest.digits(name="digits", channels=[16, 32], train={
    "data": "digits", "epochs": 4, "batch_size": 64, "lr": 0.01, "optimizer": "adamw"})


@pytest.fixture(scope="session")
def trained_digits(tmp_path_factory) -> Path:
    """:data:`TRAINED_DIGITS`'s artifact, trained once for the whole run; a test that writes to it copies it first."""
    import flexzoo

    folder = tmp_path_factory.mktemp("trained-digits")
    artifact = flexzoo.train(TRAINED_DIGITS.write(folder / "digits.toml"), folder / "out").artifact
    assert artifact is not None
    return artifact


@dataclass
class CliResult:
    """What a ``zoo`` command run in this process returned and printed."""

    returncode: int
    stdout: str
    stderr: str


def zoo_in_process(*args: str) -> CliResult:
    """``zoo ARGS`` through the CLI's own entry point, in this process: no interpreter to start. A usage error
    (argparse exits 2) is returned as that status, as the command would have exited."""
    from flexzoo.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(args))
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    return CliResult(code, out.getvalue(), err.getvalue())


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
