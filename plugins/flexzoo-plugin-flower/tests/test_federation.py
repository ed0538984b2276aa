"""Real federated runs: `zoo train` as a Flower server with client processes on 127.0.0.1."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import psutil
import pytest

import flexzoo
from flexzoo.testing import read_artifact

pytestmark = [pytest.mark.slow, pytest.mark.processes]  # servers, ranks, signals: `make test-flaky` runs them 10 times

MANIFEST = """
[model]
name = "fed"
seed = 0
input_shape = [1, 8, 8]

[backbone]
use = "mlp"
widths = [16]

[heads.digit]
use = "linear"
num_classes = 10

[train]
data = "digits"
epochs = 1
batch_size = 64
optimizer = "sgd"
lr = 0.1
threads = 1

[distributed]
use = "fedavg"
clients = 2
rounds = {rounds}
partitions = "dirichlet"
alpha = 0.5
timeout_s = {timeout_s}
"""


def _zoo(tmp_path, rounds=2, env=None, timeout_s=60):
    manifest = tmp_path / "fed.toml"
    manifest.write_text(MANIFEST.format(rounds=rounds, timeout_s=timeout_s))
    return subprocess.Popen([sys.executable, "-m", "flexzoo", "train", str(manifest), "-o", str(tmp_path / "out")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **(env or {})})


def _clients(server, count=2, timeout_s=120):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        children = psutil.Process(server.pid).children()
        if len(children) == count:
            return children
        time.sleep(0.2)
    raise AssertionError("the clients were not started")


def test_a_federated_run_writes_a_loadable_artifact_with_its_federation(tmp_path):
    run = _zoo(tmp_path)
    out, err = run.communicate(timeout=240)
    assert run.returncode == 0, err
    artifact = tmp_path / "out" / "fed.safetensors"
    model = flexzoo.load(artifact)
    assert set(model.heads) == {"digit"}
    federation = read_artifact(artifact).info["training"]["federation"]
    assert (federation["rounds"], federation["clients"], federation["algorithm"]) == (2, 2, "fedavg")
    assert sum(federation["partition_sizes"]) == read_artifact(artifact).info["training"]["data"]["train_samples"]
    accuracies = [v["digit.accuracy"] for v in federation["validation_per_round"]]
    assert len(accuracies) == 2 and accuracies[-1] > federation["initial_validation"]["digit.accuracy"]
    assert "round 2/2" in out


def test_a_killed_client_stops_the_run_with_a_message(tmp_path):
    run = _zoo(tmp_path, rounds=200)
    victim = _clients(run)[1]
    time.sleep(3)
    victim.send_signal(signal.SIGKILL)
    _, err = run.communicate(timeout=120)
    assert run.returncode == 1
    assert "zoo: error: federated training failed:" in err and "SIGKILL" in err and "Traceback" not in err
    assert not (tmp_path / "out" / "fed.safetensors").exists()


def test_a_killed_server_ends_its_clients_with_a_message(tmp_path):
    run = _zoo(tmp_path, rounds=200, timeout_s=15)
    clients = _clients(run)
    time.sleep(3)
    run.send_signal(signal.SIGKILL)
    _, err = run.communicate(timeout=120)  # the clients share its stderr: this returns once they have ended too
    assert run.returncode == -signal.SIGKILL
    assert not any(client.is_running() and client.status() != psutil.STATUS_ZOMBIE for client in clients)
    assert err.count("lost the server at 127.0.0.1:") == 2 and "Traceback" not in err, err
