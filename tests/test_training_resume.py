"""A killed ``zoo train`` continues with ``--resume`` and ends with the weights of an uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from safetensors.torch import load_file

from flexzoo import FlexzooError, load_manifest
from flexzoo.pipeline.stages import train
from flexzoo.training.checkpoint import checkpoint_state

pytestmark = pytest.mark.processes  # servers, ranks, signals: `make test-flaky` runs them 10 times

RESUMABLE = """
[model]
name = "resumable"
seed = 7
input_shape = [1, 8, 8]

[backbone]
use = "mlp"
widths = [64]
dropout = 0.1

[heads.digit]
use = "mlp"
num_classes = 10
hidden = [16]
dropout = 0.2

[train]
data = "digits"
epochs = 12
batch_size = 64
threads = 1
optimizer = "sgd"
lr = 0.05
schedule = "cosine"
warmup_epochs = 1
"""


def latest_epoch(out) -> int:
    state = checkpoint_state(out / "resumable.train")
    return state["epoch"] if state else 0


def validation_history(out) -> list[dict]:
    lines = (out / "resumable.train" / "metrics.jsonl").read_text().splitlines()
    return [json.loads(line)["validation"] for line in lines]


@pytest.mark.slow
def test_killed_run_resumes_to_the_same_weights(zoo, manifest_file, tmp_path):
    manifest = str(manifest_file(RESUMABLE))
    whole, interrupted = tmp_path / "whole", tmp_path / "interrupted"
    result = zoo("train", manifest, "-o", str(whole), "--quiet")
    assert result.returncode == 0, result.stderr

    run = subprocess.Popen([sys.executable, "-m", "flexzoo", "train", manifest, "-o", str(interrupted), "--quiet"],
                           env=zoo.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while latest_epoch(interrupted) < 2 and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(run.pid, signal.SIGKILL)
    assert run.wait(timeout=30) == -signal.SIGKILL, "the run ended before it could be killed"
    stopped_at = latest_epoch(interrupted)
    assert 2 <= stopped_at < 12
    assert not (interrupted / "resumable.safetensors").exists()

    result = zoo("train", manifest, "-o", str(interrupted), "--resume", "--quiet")
    assert result.returncode == 0, result.stderr
    expected = load_file(str(whole / "resumable.safetensors"))
    resumed = load_file(str(interrupted / "resumable.safetensors"))
    assert expected.keys() == resumed.keys()
    assert all(torch.equal(expected[name], resumed[name]) for name in expected)
    assert validation_history(interrupted) == validation_history(whole)


def test_resume_refuses_a_changed_manifest(manifest_file, registry, tmp_path):
    short = RESUMABLE.replace("epochs = 12", "epochs = 1")
    train(load_manifest(manifest_file(short), registry), tmp_path, registry, show_progress=False)
    changed = load_manifest(manifest_file(short.replace("lr = 0.05", "lr = 0.01")), registry)
    with pytest.raises(FlexzooError, match="the manifest changed since the checkpoint was written"):
        train(changed, tmp_path, registry, resume=True, show_progress=False)
