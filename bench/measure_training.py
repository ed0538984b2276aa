"""Issue 4: `zoo train` throughput against a hand-written torch loop; one rank against 2 ranks x 1 thread.

Throughput is training samples per second of wall time. ``zoo train`` is timed whole (build, data,
epochs with validation, a checkpoint per epoch, the artifact); the hand-written loop does the same
build, data, epochs and validation, and writes nothing. Both run in this process, interleaved.
The rank comparison runs the real CLI (`zoo train` vs `zoo train --nproc 2`) and takes the epochs'
own timings from the metrics the artifact records, so start-up is left out of both.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

import flexzoo
import flexzoo.builtin
from common import Row, write_digits_manifest
from flexzoo.artifact.format import read_artifact
from flexzoo.host.registry import Registry
from flexzoo.manifest.validation import load_manifest
from flexzoo.pipeline.stages import Pipeline, train

EPOCHS = 12
ROUNDS = 3
WARMUP_ROUNDS = 1
CLI_EPOCHS, CLI_RUNS = 4, 2
SMOKE = {"EPOCHS": 2, "ROUNDS": 1, "WARMUP_ROUNDS": 0, "CLI_EPOCHS": 2, "CLI_RUNS": 1}
#: After the digits CNN (bench/common.py): a second head, the training and the strategy.
SECTIONS = """
[heads.parity]
use = "mlp"
num_classes = 2
hidden = [32]

[train]
data = "digits"
epochs = {epochs}
batch_size = 64
optimizer = "adamw"
lr = 0.003
threads = 1

[distributed]
use = "{strategy}"
"""


def write(directory: Path, strategy: str = "single", epochs: int = EPOCHS) -> Path:
    return write_digits_manifest(directory, SECTIONS.format(strategy=strategy, epochs=epochs), f"{strategy}.toml")


def hand_written(manifest, registry) -> tuple[float, list[float]]:
    """The same model, data, optimizer and validation as a plain torch loop: total and per-epoch seconds."""
    started = time.perf_counter()
    epochs = []
    model = flexzoo.build(manifest, registry).train()
    from flexzoo.manifest.train import TrainConfig

    config = TrainConfig.from_dict(manifest.train)
    data = Pipeline(manifest).training_data()
    x, digit, parity = data.inputs, data.targets["digit"], data.targets["parity"]
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr)
    loss_fn = torch.nn.functional.cross_entropy
    for _ in range(config.epochs):
        epoch_started = time.perf_counter()
        model.train()
        order = data.train_index[torch.randperm(len(data.train_index))]
        for start in range(0, len(order), config.batch_size):
            index = order[start:start + config.batch_size]
            out = model(x[index])
            loss = loss_fn(out["digit"], digit[index]) + loss_fn(out["parity"], parity[index])
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        model.eval()
        with torch.no_grad():
            correct = 0
            for start in range(0, len(data.validation_index), config.batch_size):
                index = data.validation_index[start:start + config.batch_size]
                correct += int((model(x[index])["digit"].argmax(1) == digit[index]).sum())
        epochs.append(time.perf_counter() - epoch_started)
    return time.perf_counter() - started, epochs


def versus_hand_written(directory: Path) -> list[Row]:
    registry = Registry.from_modules({"builtin": flexzoo.builtin})
    manifest = load_manifest(write(directory), registry)
    runs: dict[str, list[float]] = {"zoo": [], "hand": []}
    epochs: dict[str, list[float]] = {"zoo": [], "hand": []}
    samples = 0
    for round_index in range(WARMUP_ROUNDS + ROUNDS):
        started = time.perf_counter()
        result = train(manifest, directory / f"out{round_index}", registry, show_progress=False)
        zoo_total = time.perf_counter() - started
        hand_total, hand_epochs = hand_written(manifest, registry)
        if round_index >= WARMUP_ROUNDS:
            runs["zoo"].append(zoo_total)
            runs["hand"].append(hand_total)
            epochs["zoo"] += [record["seconds"] for record in result.history[1:]]
            epochs["hand"] += hand_epochs[1:]
        samples = read_artifact(result.artifact).info["training"]["data"]["train_samples"]
    note = f"digits CNN, {samples} samples x {EPOCHS} epochs, 1 thread, {ROUNDS} interleaved runs each"
    fastest = min(epochs["hand"]) / min(epochs["zoo"])
    return [
        Row("train throughput per epoch: zoo train vs hand-written loop", samples / statistics.median(epochs["zoo"]),
            samples / statistics.median(epochs["hand"]), "samples/s", target=0.95, lower_is_better=False,
            note=note + "; one epoch = training + validation, epochs 2 onwards, median of "
                 f"{len(epochs['zoo'])} epochs each; fastest epoch against fastest epoch: {fastest:.3f}"),
        Row("train throughput whole run: zoo train vs hand-written loop", samples * EPOCHS / min(runs["zoo"]),
            samples * EPOCHS / min(runs["hand"]), "samples/s",
            note=note + ", fastest run; zoo's run also builds and validates the manifest, writes a checkpoint per "
                 "epoch and the artifact, which the hand-written loop does not: start-up and I/O, not throughput"),
    ]


def cli_epoch_seconds(directory: Path, strategy: str, nproc: int) -> float:
    out = directory / f"cli-{strategy}-{nproc}"
    manifest = write(directory, strategy, epochs=CLI_EPOCHS)
    command = [sys.executable, "-m", "flexzoo", "train", str(manifest), "-o", str(out), "-q",
               *(["--nproc", str(nproc)] if nproc > 1 else [])]
    subprocess.run(command, check=True, capture_output=True, timeout=600)
    lines = read_artifact(out / "bench.safetensors").info["training"]["metrics_jsonl"].splitlines()
    return sum(json.loads(line)["seconds"] for line in lines[1:])  # the first epoch warms up


def ranks(directory: Path) -> list[Row]:
    single = statistics.median(cli_epoch_seconds(directory, "single", 1) for _ in range(CLI_RUNS))
    ddp = statistics.median(cli_epoch_seconds(directory, "ddp", 2) for _ in range(CLI_RUNS))
    fsdp = cli_epoch_seconds(directory, "fsdp", 2)
    note = f"epoch time (train + validation) of epochs 2-{CLI_EPOCHS}, from the artifact's metrics; 2 cores shared"
    return [Row("epoch time: 2 DDP ranks x 1 thread vs 1 rank x 1 thread", ddp, single, "s", note=note),
            Row("epoch time: 2 FSDP ranks x 1 thread vs 1 rank x 1 thread", fsdp, single, "s", note=note)]


def measure() -> list[Row]:
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as directory:
        return [*versus_hand_written(Path(directory)), *ranks(Path(directory))]
