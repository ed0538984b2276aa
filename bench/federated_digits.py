"""FedAvg on digits over 4 clients (Dirichlet alpha = 0.5) against centralized training: accuracy per round/epoch.

    PYTHONPATH=core python bench/federated_digits.py [--rounds 20]

Both runs are real `zoo train` commands (the federated one: a Flower server and 4 client processes on
127.0.0.1); one federated round is one local epoch on every client, so round r is compared with epoch r.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from flexzoo.artifact.format import read_artifact

MANIFEST = """
[model]
name = "{name}"
seed = 0
input_shape = [1, 8, 8]

[backbone]
use = "mlp"
widths = [64]

[heads.digit]
use = "linear"
num_classes = 10

[train]
data = "digits"
epochs = {rounds}
batch_size = 32
optimizer = "sgd"
lr = 0.05
momentum = 0.9
threads = 1
{distributed}
"""
FEDERATED = """
[distributed]
use = "fedavg"
clients = 4
rounds = {rounds}
partitions = "dirichlet"
alpha = 0.5
local_epochs = 1
"""


def accuracies(directory: Path, name: str, rounds: int, distributed: str) -> tuple[list[float], dict]:
    manifest = directory / f"{name}.toml"
    manifest.write_text(MANIFEST.format(name=name, rounds=rounds, distributed=distributed))
    subprocess.run([sys.executable, "-m", "flexzoo", "train", str(manifest), "-o", str(directory), "-q"], check=True)
    training = read_artifact(directory / f"{name}.safetensors").info["training"]
    history = [__import__("json").loads(line) for line in training["metrics_jsonl"].splitlines()]
    return [record["validation"]["digit.accuracy"] for record in history], training.get("federation", {})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    rounds = parser.parse_args().rounds
    with tempfile.TemporaryDirectory() as folder:
        directory = Path(folder)
        federated, record = accuracies(directory, "federated", rounds, FEDERATED.format(rounds=rounds))
        central, _ = accuracies(directory, "central", rounds, "")
    print(f"partition sizes: {record['partition_sizes']}  (initial accuracy "
          f"{record['initial_validation']['digit.accuracy']:.4f}, federation {record['seconds']} s)")
    print("round  fedavg   centralized")
    for index, (fed, cen) in enumerate(zip(federated, central), start=1):
        print(f"{index:5d}  {fed:.4f}   {cen:.4f}")
    reached = next((index for index, value in enumerate(federated, start=1) if value >= 0.9), None)
    print(f"fedavg reaches 90% digit accuracy at round {reached}" if reached else "fedavg never reaches 90%")


if __name__ == "__main__":
    main()
