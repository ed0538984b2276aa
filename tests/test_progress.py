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
from conftest import TINY_MANIFEST, zoo_in_process
from flexzoo import load_manifest
from flexzoo.hub.cache import fetch_file
from flexzoo.hub.sources import WeightsFile
from flexzoo.pipeline.stages import train
from flexzoo.reporting.progress import Bars, Units, showing
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
        # the terminal's own size decides, as on a user's: COLUMNS and LINES (pytest-xdist's workers set 80 x 24)
        # would override it
        env = {name: value for name, value in os.environ.items() if name not in ("COLUMNS", "LINES")}
        run = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=stdout, stderr=follower,
                               env={**env, "TERM": "xterm"})
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


# -- units of work: evaluation passes, tuning trials, export formats, transfers ----------------------------------

EVALUATE = ["--corruptions", "gaussian_noise", "--severities", "1-2", "--attack", "pgd", "--epsilon", "0.1",
            "--steps", "3", "--samples", "200"]
PASS_LINE = re.compile(r"(clean|gaussian_noise severity [12]|pgd epsilon 0\.1)  (robust )?accuracy [01]\.\d{4}  "
                       r"\(\d+\.\d s\)")
PASS_RATE = re.compile(r"[\d,]+ (samples|passes)/s|[\d.]+ s/pass")
TUNE = """
[model]
name = "tuned"
input_shape = [1, 8, 8]

[backbone]
use = "mlp"
widths = [16]

[heads.digit]
use = "linear"
num_classes = 10

[train]
data = "digits"
epochs = 2
batch_size = 256
"""
TRIAL_LINE = re.compile(r"trial (\d) \((\d) of 2\)  digit\.accuracy [01]\.\d{4}  best [01]\.\d{4} \(trial \d\)  "
                        r"\(\d+\.\d s\)")


def test_units_on_a_terminal_draw_the_overall_bar_and_each_units_bar_with_the_lines_above():
    console = Console(file=io.StringIO(), force_terminal=True, width=160)
    with Units("evaluate", 2, "passes", console=console) as units:
        for name in ("clean", "noise"):
            advance = units.begin(name, 64)
            for _ in range(2):
                time.sleep(0.005)
                advance(32)
            units.end(f"{name}  accuracy 1.0000", note="best 1.0")
    drawn = console.file.getvalue()
    assert "evaluate" in drawn and "2/2" in drawn and "64/64" in drawn and RATE.search(drawn) and ETA.search(drawn)
    assert re.search(r"clean  accuracy 1\.0000  \(0\.\d s\)", drawn) and "best 1.0" in drawn


def test_units_off_a_terminal_print_one_plain_line_per_unit_and_nothing_when_off():
    for display, expected in (("bars", 2), ("lines", 2), ("off", 0)):
        stream = io.StringIO()
        with Units("tune", 2, "trials", display=display, stream=stream) as units:
            for number in range(2):
                units.begin(f"trial {number}", 2, "epochs")(2)
                units.end(f"trial {number}")
        lines = stream.getvalue().splitlines()
        assert [re.fullmatch(r"trial \d  \(\d\.\d s\)", line) is not None for line in lines] == [True] * expected


@pytest.mark.slow
@pytest.mark.processes
def test_evaluate_on_a_terminal_draws_its_passes_with_rate_and_eta(trained_digits):
    terminal, stdout = on_a_terminal([sys.executable, "-m", "flexzoo", "evaluate", str(trained_digits), *EVALUATE])
    assert f"evaluate {trained_digits.name}" in terminal and "4/4" in terminal  # clean, 2 severities, 1 epsilon
    assert PASS_RATE.search(terminal) and ETA.search(terminal)
    assert {m.group(1) for m in PASS_LINE.finditer(terminal)} == {"clean", "gaussian_noise severity 1",
                                                                  "gaussian_noise severity 2", "pgd epsilon 0.1"}
    assert "clean accuracy" in stdout and "PGD-3" in stdout  # the results stay on stdout


@pytest.mark.slow
def test_evaluate_off_a_terminal_prints_one_plain_line_per_pass_and_nothing_with_json(trained_digits):
    result = zoo_in_process("evaluate", str(trained_digits), *EVALUATE)
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert [PASS_LINE.fullmatch(line).group(1) for line in lines] == [
        "clean", "gaussian_noise severity 1", "gaussian_noise severity 2", "pgd epsilon 0.1"]
    assert "\r" not in result.stderr and "\x1b" not in result.stderr
    quiet = zoo_in_process("evaluate", str(trained_digits), "--samples", "50", "--json")
    assert quiet.returncode == 0 and quiet.stderr == ""


@pytest.mark.slow
@pytest.mark.processes
def test_tune_on_a_terminal_draws_its_trials_with_the_best_so_far_and_eta(tmp_path):
    (tmp_path / "m.toml").write_text(TUNE)
    terminal, stdout = on_a_terminal([sys.executable, "-m", "flexzoo", "tune", str(tmp_path / "m.toml"), "--space",
                                      "train.lr=loguniform(1e-3,1e-1)", "--trials", "2", "-o", str(tmp_path)])
    assert "tune tuned" in terminal and "2/2" in terminal and ETA.search(terminal)
    assert re.search(r"[\d.]+ s/trial|[\d,]+ trials/s", terminal) and re.search(r"best [01]\.\d{4} \(trial \d\)",
                                                                                terminal)
    assert [(m.group(1), m.group(2)) for m in TRIAL_LINE.finditer(terminal)] == [("0", "1"), ("1", "2")]
    assert "[I " not in terminal  # Optuna's own log lines give way to the trials' lines
    assert stdout.startswith("best digit.accuracy")


@pytest.mark.slow
def test_tune_quiet_prints_one_plain_line_per_trial(tmp_path):
    (tmp_path / "m.toml").write_text(TUNE)
    result = zoo_in_process("tune", str(tmp_path / "m.toml"), "--space", "train.lr=loguniform(1e-3,1e-1)",
                            "--trials", "2", "-o", str(tmp_path), "--quiet")
    assert result.returncode == 0, result.stderr
    assert [TRIAL_LINE.fullmatch(line).group(2) for line in result.stderr.splitlines()] == ["1", "2"]


@pytest.mark.slow
def test_export_prints_one_line_per_format_with_its_seconds(many_images, tmp_path):
    artifact, _ = many_images
    result = zoo_in_process("export", artifact, "--format", "onnx", "--format", "torchscript", "-o", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert [re.fullmatch(r"exported (\w+) to .+  \(\d+\.\d s\)", line).group(1)
            for line in result.stderr.splitlines()] == ["onnx", "torchscript"]
    assert zoo_in_process("export", artifact, "-o", str(tmp_path / "json"), "--json").stderr == ""


@pytest.fixture
def served_file(tmp_path):
    """A real HTTP server on localhost serving a 3 MB checkpoint; its URL."""
    import functools
    import http.server
    import threading

    folder = tmp_path / "served"
    folder.mkdir()
    (folder / "weights.pth").write_bytes(os.urandom(3_000_000))
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # the requests are not what the test reads on stderr
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(folder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/weights.pth"
    server.shutdown()
    server.server_close()


@pytest.mark.processes
@pytest.mark.parametrize(("display", "lines"), [("lines", 1), ("off", 0)])
def test_a_download_off_a_terminal_is_one_line_with_its_rate_and_a_cached_file_none(
        served_file, tmp_path, monkeypatch, display, lines):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    err = io.StringIO()
    with contextlib.redirect_stderr(err), showing(display):
        fetched = fetch_file(WeightsFile.from_url(served_file))
        fetch_file(WeightsFile.from_url(served_file))  # in the cache now: nothing moves, nothing is said
    assert fetched.size == 3_000_000
    said = err.getvalue().splitlines()
    assert [re.fullmatch(rf"downloaded {re.escape(served_file)}  3\.0 MB in \d+\.\d s \([\d,.]+ MB/s\)", line)
            is not None for line in said] == [True] * lines
