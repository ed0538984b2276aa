"""A build killed at any moment leaves the previous artifact intact and no half-written one."""

from __future__ import annotations

import contextlib
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


def partial_files(out) -> set:
    """The files in the builds' partial directories; a directory the build renames or removes while it is listed
    counts as empty."""
    files = set()
    for directory in out.glob(".big.safetensors.*.partial"):
        with contextlib.suppress(FileNotFoundError):
            files.update(directory.iterdir())
    return files


def wait_for_partial(out, build: subprocess.Popen, earlier: set) -> None:
    """Until the build has begun writing its artifact (a partial file not in ``earlier`` exists), or has ended."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and build.poll() is None and not partial_files(out) - earlier:
        time.sleep(0.002)


@pytest.mark.slow
def test_killed_builds_never_leave_a_half_artifact(tmp_path):
    manifest, out = tmp_path / "big.toml", tmp_path / "out"
    artifact = out / "big.safetensors"
    first = start_build(manifest, out, seed=0)
    _, stderr = first.communicate(timeout=300)  # communicate, not wait: it reads and closes the pipe
    assert first.returncode == 0, stderr
    hashes = {read_artifact(artifact).weights_sha256}
    # Kill new builds (another seed: other weights) while they write: at moments spread from the first byte
    # written (the partial file appears) to past the rename.
    outcomes, interrupted = [], 0
    for index, delay in enumerate([0.0, 0.05, 0.2, 0.6]):
        earlier = partial_files(out)
        build = start_build(manifest, out, seed=index + 1)
        wait_for_partial(out, build, earlier)
        time.sleep(delay)
        build.send_signal(signal.SIGKILL)
        build.communicate(timeout=60)
        info = read_artifact(artifact)  # always a complete artifact whose hashes verify
        outcomes.append(info.weights_sha256 in hashes)
        hashes.add(info.weights_sha256)
        visible = sorted(p.name for p in out.iterdir() if not p.name.startswith("."))
        assert visible == ["big.safetensors"]
        hidden = [p.name for p in out.iterdir() if p.name.startswith(".")]
        assert all(name.endswith(".partial") for name in hidden), hidden
        interrupted += len(hidden)
    # The next build removes the partial files dead builds left behind.
    last = start_build(manifest, out, seed=99)
    _, stderr = last.communicate(timeout=300)
    assert last.returncode == 0, stderr
    assert sorted(p.name for p in out.iterdir()) == ["big.safetensors"]
    assert any(outcomes), "no kill landed before the rename: the test did not exercise an interrupted write"
    assert interrupted, "no kill left a partial file: none landed while the artifact was being written"


@pytest.mark.slow
def test_terminated_build_cleans_up_its_partial_file(tmp_path):
    manifest, out = tmp_path / "big.toml", tmp_path / "out"
    build = start_build(manifest, out, seed=0)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not partial_files(out):
        time.sleep(0.005)
    assert partial_files(out), "the build never started writing"
    build.send_signal(signal.SIGTERM)
    build.communicate(timeout=60)
    assert build.returncode == 128 + signal.SIGTERM
    assert list(out.iterdir()) == []
    assert os.path.isdir(out)
