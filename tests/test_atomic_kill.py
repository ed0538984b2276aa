"""A build killed at any moment leaves the previous artifact intact and no half-written one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from flexzoo.testing import read_artifact

pytestmark = pytest.mark.processes  # servers, ranks, signals: `make test-flaky` runs them 10 times

BIG = """
[model]
name = "big"
seed = {seed}
input_shape = [1, 32, 32]

[backbone]
use = "mlp"
widths = [4096, 4096, 2048]

[heads.out]
use = "linear"
num_classes = 10
"""


def start_build(manifest, out, seed: int) -> subprocess.Popen:
    manifest.write_text(BIG.format(seed=seed))
    return subprocess.Popen([sys.executable, "-m", "flexzoo", "build", str(manifest), "-o", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
def test_killed_builds_never_leave_a_half_artifact(tmp_path):
    manifest, out = tmp_path / "big.toml", tmp_path / "out"
    artifact = out / "big.safetensors"
    started = time.perf_counter()
    first = start_build(manifest, out, seed=0)
    _, stderr = first.communicate(timeout=300)  # communicate, not wait: it reads and closes the pipe
    assert first.returncode == 0, stderr
    full = time.perf_counter() - started
    hashes = {read_artifact(artifact).weights_sha256}
    # Kill new builds (another seed: other weights) at moments spread over a whole build.
    outcomes = []
    for index, fraction in enumerate([0.3, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 1.0, 1.1]):
        build = start_build(manifest, out, seed=index + 1)
        time.sleep(full * fraction)
        build.send_signal(signal.SIGKILL)
        build.communicate(timeout=60)
        info = read_artifact(artifact)  # always a complete artifact whose hashes verify
        outcomes.append(info.weights_sha256 in hashes)
        hashes.add(info.weights_sha256)
        visible = sorted(p.name for p in out.iterdir() if not p.name.startswith("."))
        assert visible == ["big.safetensors"]
        hidden = [p.name for p in out.iterdir() if p.name.startswith(".")]
        assert all(name.endswith(".partial") for name in hidden), hidden
    # The next build removes the partial files dead builds left behind.
    last = start_build(manifest, out, seed=99)
    _, stderr = last.communicate(timeout=300)
    assert last.returncode == 0, stderr
    assert sorted(p.name for p in out.iterdir()) == ["big.safetensors"]
    assert any(outcomes), "no kill landed before the rename: the test did not exercise an interrupted write"


@pytest.mark.slow
def test_terminated_build_cleans_up_its_partial_file(tmp_path):
    manifest, out = tmp_path / "big.toml", tmp_path / "out"
    build = start_build(manifest, out, seed=0)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not any(out.glob(".big.safetensors.*.partial/*")):
        time.sleep(0.005)
    assert any(out.glob(".big.safetensors.*.partial/*")), "the build never started writing"
    build.send_signal(signal.SIGTERM)
    build.communicate(timeout=60)
    assert build.returncode == 128 + signal.SIGTERM
    assert list(out.iterdir()) == []
    assert os.path.isdir(out)
