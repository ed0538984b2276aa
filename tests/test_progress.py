"""What a long verb shows while its user waits: rich bars with rate and ETA on a terminal, plain lines elsewhere."""

from __future__ import annotations

import contextlib
import fcntl
import io
import os
import pty
import re
import select
import struct
import subprocess
import sys
import tempfile
import termios
import textwrap
import time

import numpy as np
import pytest
from PIL import Image
from rich.console import Console

import flexzoo
from conftest import TINY_MANIFEST
from flexzoo import load_manifest
from flexzoo.pipeline.stages import train
from flexzoo.reporting.progress import Bars
from flexzoo.testing import manifest
from flexzoo.training.progress import Progress

SMALL_DIGITS = manifest(name="small", seed=3, backbone={"use": "mlp", "widths": [32]},
                        heads={"digit": {"use": "linear", "num_classes": 10}},
                        train={"data": "digits", "epochs": 2, "batch_size": 128, "lr": 0.01}).toml()

EPOCH_LINE = re.compile(r"epoch (\d)/2  train loss \d+\.\d{4}  val loss .*digit\.accuracy [\d.]+.*  \(\d+\.\d s\)")
RATE = re.compile(r"[\d,]+ samples/s")
ETA = re.compile(r"ETA \d+:\d\d:\d\d")


def on_a_terminal(command: list[str]) -> tuple[str, str]:
    """Run ``command`` with stderr on a pseudo-terminal (160 columns); what the terminal got, and stdout."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))
    chunks = []
    with tempfile.TemporaryFile() as stdout:  # a file, not a pipe: a full pipe would stop the process mid-run
        run = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=stdout, stderr=follower,
                               env={**os.environ, "TERM": "xterm"})
        os.close(follower)
        while select.select([leader], [], [], 120)[0]:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the process closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        run.wait(timeout=60)
        os.close(leader)
        stdout.seek(0)
        printed = stdout.read().decode()
    assert run.returncode == 0, (printed, b"".join(chunks)[-2000:])
    return b"".join(chunks).decode(), printed


@pytest.mark.slow
@pytest.mark.processes
def test_training_on_a_terminal_draws_bars_with_rate_and_eta(tmp_path):
    (tmp_path / "small.toml").write_text(SMALL_DIGITS)
    terminal, stdout = on_a_terminal([sys.executable, "-m", "flexzoo", "train", str(tmp_path / "small.toml"),
                                      "-o", str(tmp_path / "out")])
    assert "epoch 1/2 train" in terminal and "epoch 2/2 val" in terminal  # a bar for training and for validation
    assert RATE.search(terminal) and ETA.search(terminal) and re.search(r"loss \d\.\d{4}", terminal)
    assert [int(m.group(1)) for m in EPOCH_LINE.finditer(terminal)] == [1, 2]  # the epoch lines stay above the bars
    assert "wrote" in stdout


def test_training_off_a_terminal_prints_one_plain_line_per_epoch(registry, tmp_path):
    (tmp_path / "small.toml").write_text(SMALL_DIGITS)
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        train(load_manifest(tmp_path / "small.toml", registry), tmp_path / "out", registry, show_progress=True)
    lines = err.getvalue().splitlines()
    assert [int(EPOCH_LINE.fullmatch(line).group(1)) for line in lines] == [1, 2]
    assert "\r" not in err.getvalue() and "\x1b" not in err.getvalue()


def feed(progress: Progress, steps: int = 4) -> None:
    """One epoch of ``steps`` batches of 32 samples, then validation of 64, a few milliseconds apart."""
    for step in range(1, steps + 1):
        time.sleep(0.005)
        progress.step(0, step, 2.0 / step, 32)
    for _ in range(2):
        time.sleep(0.005)
        progress.validating(0, 32)
    progress.epoch({"epoch": 1, "train_loss": 1.25, "validation": {"loss": 0.75}, "seconds": 0.1})


def test_bars_show_rate_eta_and_loss_then_the_epoch_line():
    console = Console(file=io.StringIO(), force_terminal=True, width=160)
    with Progress(1, 4, samples=128, validation_samples=64, console=console) as progress:
        feed(progress)
    drawn = console.file.getvalue()
    assert RATE.search(drawn) and ETA.search(drawn) and "loss 0.5000" in drawn
    assert "epoch 1/1 train" in drawn and "epoch 1/1 val" in drawn and "128/128" in drawn
    assert "epoch 1/1  train loss 1.2500  val loss 0.75  (0.1 s)" in drawn


def test_quiet_keeps_to_the_plain_line_even_on_a_terminal():
    console = Console(file=io.StringIO(), force_terminal=True, width=160)
    stream = io.StringIO()
    with Progress(1, 4, samples=128, validation_samples=64, stream=stream, bars=False, console=console) as progress:
        feed(progress)
    assert console.file.getvalue() == ""
    assert stream.getvalue() == "epoch 1/1  train loss 1.2500  val loss 0.75  (0.1 s)\n"


def test_a_disabled_progress_shows_nothing():
    stream = io.StringIO()
    with Progress(1, 4, enabled=False, stream=stream) as progress:
        feed(progress)
    assert stream.getvalue() == ""


def test_bars_off_a_terminal_draw_nothing():
    stream = io.StringIO()
    with Bars(stream=stream) as bars:
        bars.advance(bars.add("predict", 10), 10)
    assert stream.getvalue() == ""


@pytest.fixture(scope="module")
def many_images(tmp_path_factory) -> tuple[str, str]:
    """A tiny built artifact and a folder of 300 digit images (more than predict's bar waits for)."""
    from sklearn.datasets import load_digits

    tmp = tmp_path_factory.mktemp("predict")
    (tmp / "tiny.toml").write_text(textwrap.dedent(TINY_MANIFEST))
    artifact = flexzoo.save(flexzoo.build(tmp / "tiny.toml"), tmp / "out", export=False)
    (tmp / "images").mkdir()
    for index, image in enumerate(load_digits().images[:300]):
        Image.fromarray((image * 15).astype(np.uint8)).save(tmp / "images" / f"{index:05d}.png")
    return str(artifact), str(tmp / "images")


@pytest.mark.slow
@pytest.mark.processes
def test_predict_on_a_terminal_draws_a_bar_with_rate_and_eta(many_images):
    artifact, images = many_images
    terminal, stdout = on_a_terminal([sys.executable, "-m", "flexzoo", "predict", artifact, images, "--json"])
    assert "predict" in terminal and "300/300" in terminal and RATE.search(terminal) and ETA.search(terminal)
    assert stdout.count('"input"') == 300  # the results themselves stay on stdout


@pytest.mark.slow
@pytest.mark.processes
def test_sharded_predict_on_a_terminal_draws_a_bar_over_the_files(many_images, tmp_path):
    artifact, images = many_images
    terminal, stdout = on_a_terminal([sys.executable, "-m", "flexzoo", "predict", artifact, images,
                                      "-o", str(tmp_path / "shards")])
    assert "300/300" in terminal and re.search(r"[\d,]+ files/s", terminal) and ETA.search(terminal)
    assert "rank 0:" not in terminal and stdout.startswith("wrote ")
