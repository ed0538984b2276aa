"""Issue 12: loading a large artifact against the plain timm path; `zoo train` against a hand-written loop
(eager and with ``compile = true``) and against PyTorch Lightning; start-up to the first step.

Loads run in fresh processes (peak RSS is the process's own), alternated, after one warm-up each, so
both read the file from the page cache. Training runs in this process, 1 thread, interleaved; an
epoch is training plus validation, as ``zoo train`` records it. Lightning is a bench-only dependency
(``pip install '.[bench]'``); without it its rows are left out, with a note.
``FLEXZOO_BENCH_LOAD_MODEL`` picks the timm model to load (default vit_base_patch16_224;
vit_large_patch16_224 is the issue's ViT-L, 1.2 GB of weights).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import torch

import flexzoo
from common import Row
from flexzoo.host.registry import default_registry
from flexzoo.manifest.train import TrainConfig
from flexzoo.manifest.validation import load_manifest
from flexzoo.pipeline.stages import Pipeline, train

HERE = Path(__file__).parent
CHILD = [sys.executable, str(HERE / "speed_child.py")]
LOAD_MODEL = os.environ.get("FLEXZOO_BENCH_LOAD_MODEL", "vit_base_patch16_224")
LOAD_ROUNDS = 3
EPOCHS = 6
TRAIN_ROUNDS = int(os.environ.get("FLEXZOO_BENCH_TRAIN_ROUNDS", "3"))
WARM_EPOCHS = 2  # compile (and recompiles for the last batch and eval mode) happen in these
LOAD_WARMUP = 1
COMPILE = True  # the compiled rows; compiling is minutes on 2 cores, so the smoke runs them eager
CHECKPOINT_ROUNDS = 2
STARTUP_WARMUP, STARTUP_ROUNDS = 1, 3
CHANNELS, DEPTH = [32, 64], 2  # the trained CNN's
# The smoke trains a CNN a sixteenth of the size: its eight runs of two epochs each take seconds, not minutes.
SMOKE = {"LOAD_MODEL": "vit_tiny_patch16_224", "LOAD_ROUNDS": 1, "LOAD_WARMUP": 0, "EPOCHS": 2, "TRAIN_ROUNDS": 1,
         "WARM_EPOCHS": 1, "COMPILE": False, "CHECKPOINT_ROUNDS": 1, "STARTUP_WARMUP": 0, "STARTUP_ROUNDS": 1,
         "CHANNELS": [8, 16], "DEPTH": 1}

TRAIN_MANIFEST = """
[model]
name = "bench-speed"
seed = 0
input_shape = [1, 8, 8]

[backbone]
use = "cnn"
channels = {channels}
depth = {depth}

[heads.digit]
use = "linear"
num_classes = 10

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
{extra}
"""


def child(*args: str) -> dict:
    done = subprocess.run([*CHILD, *args], check=True, capture_output=True, text=True, timeout=900)
    return json.loads(done.stdout.strip().splitlines()[-1])


def loading(directory: Path) -> list[Row]:
    """flexzoo.load of a timm artifact vs timm.create_model + load_file + load_state_dict, same weights."""
    from safetensors.torch import save_file

    manifest = directory / "vit.toml"
    manifest.write_text(textwrap.dedent(f"""
        [model]
        name = "vit"
        seed = 0
        input_shape = [3, 224, 224]

        [backbone]
        use = "timm:{LOAD_MODEL}"

        [heads.label]
        use = "linear"
        num_classes = 10
        """))
    model = flexzoo.build(manifest)
    artifact = flexzoo.save(model, directory)
    plain = directory / "plain.safetensors"
    save_file({k: v.contiguous() for k, v in model.backbone.state_dict().items()}, str(plain))
    weight_bytes = sum(t.numel() * t.element_size() for t in model.state_dict().values())
    del model
    runs: dict[str, list[dict]] = {"zoo": [], "plain": [], "hash": [], "sequential": [], "cat": [], "sha256sum": []}
    shell = {"cat": ["sh", "-c", f"cat '{artifact}' > /dev/null"], "sha256sum": ["sha256sum", str(artifact)]}
    for round_index in range(LOAD_WARMUP + LOAD_ROUNDS):
        for kind, args in (("zoo", [str(artifact)]), ("plain", [LOAD_MODEL, str(plain)]), ("hash", [str(artifact)]),
                           ("sequential", [str(artifact)]), ("cat", []), ("sha256sum", [])):
            if kind in shell:
                started = time.perf_counter()
                subprocess.run(shell[kind], check=True, capture_output=True)
                measured = {"seconds": time.perf_counter() - started}
            else:
                measured = child("load", kind, *args)
            if round_index >= LOAD_WARMUP:
                runs[kind].append(measured)

    def median(kind: str, key: str) -> float:
        return statistics.median(run[key] for run in runs[kind])

    mib = 2**20
    zoo_extra = median("zoo", "peak_rss") - median("zoo", "imported_rss")
    note = (f"timm {LOAD_MODEL}, {weight_bytes / mib:.0f} MiB of weights, median of {LOAD_ROUNDS} fresh processes "
            "each, alternated, file in the page cache; plain = timm.create_model + safetensors load_file + "
            "load_state_dict; RSS after importing torch and timm: "
            f"zoo {median('zoo', 'imported_rss') / mib:.0f} MiB, plain {median('plain', 'imported_rss') / mib:.0f} MiB")
    hashed = median("hash", "seconds")
    breakdown = (f"breakdown: read (cat file > /dev/null) {median('cat', 'seconds'):.3f} s, hash (tree digest on "
                 f"{os.cpu_count()} cores) {hashed:.3f} s, build and map {median('zoo', 'seconds') - hashed:.3f} s; "
                 f"sha256sum {median('sha256sum', 'seconds'):.3f} s, one-core sha256 of older artifacts "
                 f"{median('sequential', 'seconds'):.3f} s")
    return [
        Row("load time: flexzoo.load (meta + mmap + tree digest) vs plain timm path", median("zoo", "seconds"),
            median("plain", "seconds"), "s", target=0.5, note=f"{note}; {breakdown}"),
        Row("weights hash: tree digest on every core vs sha256sum of the file", hashed, median("sha256sum", "seconds"),
            "s", note=breakdown),
        Row("weights hash: tree digest on every core vs one-core sha256 (older artifacts)", hashed,
            median("sequential", "seconds"), "s", note=breakdown),
        Row("load time: flexzoo.load vs cat file > /dev/null (reading it once)", median("zoo", "seconds"),
            median("cat", "seconds"), "s", note=breakdown),
        Row("load peak RSS: flexzoo.load vs plain timm path", median("zoo", "peak_rss") / mib,
            median("plain", "peak_rss") / mib, "MiB", note=note),
        Row("load peak RSS above imports: flexzoo.load vs weight bytes", zoo_extra / mib, weight_bytes / mib, "MiB",
            target=1.2, note="the mapped pages of the file count in RSS: the weights, read once"),
        Row("load peak RSS whole process: flexzoo.load vs weight bytes", median("zoo", "peak_rss") / mib,
            weight_bytes / mib, "MiB", target=1.2, note="includes the interpreter, torch and timm"),
    ]


def write_manifest(directory: Path, name: str, extra: str = "", epochs: int = EPOCHS) -> Path:
    path = directory / f"{name}.toml"
    path.write_text(textwrap.dedent(TRAIN_MANIFEST.format(epochs=epochs, extra=extra, channels=CHANNELS,
                                                          depth=DEPTH)))
    return path


def hand_written(manifest_path: Path, compiled: bool) -> list[float]:
    """The same model, data, optimizer, loss and validation as a plain torch loop; each epoch's seconds."""
    manifest = load_manifest(manifest_path)
    config = TrainConfig.from_dict(manifest.train)
    model = flexzoo.build(manifest).train()
    runner = torch.compile(model) if compiled and COMPILE else model
    data = Pipeline(manifest).training_data()
    x, digit, parity = data.inputs, data.targets["digit"], data.targets["parity"]
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr)
    loss_fn = torch.nn.functional.cross_entropy
    seconds = []
    for _ in range(config.epochs):
        started = time.perf_counter()
        runner.train()
        order = data.train_index[torch.randperm(len(data.train_index))]
        for start in range(0, len(order), config.batch_size):
            index = order[start:start + config.batch_size]
            out = runner(x[index])
            loss = loss_fn(out["digit"], digit[index]) + loss_fn(out["parity"], parity[index])
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        runner.eval()
        with torch.no_grad():  # what zoo train reports: each head's loss and accuracy
            sums = torch.zeros(4, dtype=torch.float64)
            for start in range(0, len(data.validation_index), config.batch_size):
                index = data.validation_index[start:start + config.batch_size]
                out = runner(x[index])
                sums += torch.stack([loss_fn(out["digit"], digit[index], reduction="sum"),
                                     (out["digit"].argmax(1) == digit[index]).sum(),
                                     loss_fn(out["parity"], parity[index], reduction="sum"),
                                     (out["parity"].argmax(1) == parity[index]).sum()]).double()
            (sums / len(data.validation_index)).tolist()
        seconds.append(time.perf_counter() - started)
    return seconds


def zoo_epochs(manifest_path: Path, out: Path) -> list[float]:
    result = train(load_manifest(manifest_path), out, default_registry())
    return [record["seconds"] for record in result.history]


def throughput(directory: Path) -> list[Row]:
    counted = load_manifest(write_manifest(directory, "n"))
    samples = len(Pipeline(counted).training_data().train_index)
    eager = write_manifest(directory, "eager")
    compiled = write_manifest(directory, "compiled", "compile = true" if COMPILE else "")
    tuned = write_manifest(directory, "fused", 'optimizer_impl = "fused"\nchannels_last = true')
    measured: dict[str, list[float]] = {}
    runs = (("zoo", lambda: zoo_epochs(eager, directory / "a")),
            ("hand", lambda: hand_written(eager, False)),
            ("zoo fused", lambda: zoo_epochs(tuned, directory / "c")),
            ("zoo compile", lambda: zoo_epochs(compiled, directory / "b")),
            ("hand compile", lambda: hand_written(compiled, True)))
    for round_index in range(TRAIN_ROUNDS):  # interleaved: a shared machine's load drifts over minutes
        for name, run in runs:
            if round_index and "compile" in name:
                continue  # compiling is minutes on 2 cores: one round
            torch._dynamo.reset()
            measured.setdefault(name, []).extend(run()[WARM_EPOCHS:])
    try:
        import lightning_loop

        measured["lightning"] = lightning_loop.fit(str(eager), epochs=EPOCHS)[WARM_EPOCHS:]
    except ImportError:
        pass
    rate = {name: samples / statistics.median(seconds) for name, seconds in measured.items()}
    note = (f"digits CNN channels {CHANNELS} depth {DEPTH}, {samples} training samples, batch 64, AdamW, float32, "
            "1 thread; "
            f"median epoch (training + validation: both heads' loss and accuracy) of epochs "
            f"{WARM_EPOCHS + 1}-{EPOCHS}, "
            f"{TRAIN_ROUNDS} interleaved rounds (compile and Lightning: 1)")
    rows = [
        Row("train throughput: zoo train vs hand-written eager loop", rate["zoo"], rate["hand"], "samples/s",
            target=1.0, lower_is_better=False, note=note),
        Row("train throughput: zoo train compile=true vs hand-written eager loop", rate["zoo compile"], rate["hand"],
            "samples/s", target=1.3, lower_is_better=False, note=note + "; compile time is in epochs 1-2"),
        Row("train throughput: zoo train compile=true vs hand-written loop under torch.compile",
            rate["zoo compile"], rate["hand compile"], "samples/s", lower_is_better=False, note=note),
        Row("train throughput: zoo train fused AdamW + channels_last vs default zoo train", rate["zoo fused"],
            rate["zoo"], "samples/s", lower_is_better=False, note=note),
    ]
    if "lightning" in rate:
        rows.append(Row("train throughput: zoo train vs Lightning Trainer", rate["zoo"], rate["lightning"],
                        "samples/s", target=1.0, lower_is_better=False,
                        note=note + "; Lightning fed by DataLoader(TensorDataset), no logger, no checkpoints"))
    return rows


def checkpoint_writer(directory: Path) -> list[Row]:
    """Does the background checkpoint writer compete with training for the cores? Epochs with it and without."""
    from flexzoo.training.checkpoint import CheckpointWriter

    manifest = write_manifest(directory, "writer")
    submit = CheckpointWriter.submit
    measured: dict[str, list[float]] = {"with": [], "without": []}
    for round_index in range(CHECKPOINT_ROUNDS):
        measured["with"] += zoo_epochs(manifest, directory / f"w{round_index}")[1:]
        CheckpointWriter.submit = lambda self, run_dir, checkpoint: None  # type: ignore[method-assign]
        try:
            measured["without"] += zoo_epochs(manifest, directory / f"n{round_index}")[1:]
        finally:
            CheckpointWriter.submit = submit  # type: ignore[method-assign]
    return [Row("epoch time: zoo train with its per-epoch checkpoint writer vs without", statistics.median(
        measured["with"]), statistics.median(measured["without"]), "s", target=1.02,
        note="same CNN; the writer (a thread: safetensors + fsync + rename) overlaps the next epoch; "
             f"epochs 2 onwards of {CHECKPOINT_ROUNDS} interleaved runs each")]


def first_step_seconds(args: list[str]) -> float:
    started = time.time()
    done = subprocess.run([*CHILD, "first-step", *args], check=True, capture_output=True, text=True, timeout=600)
    return float(done.stdout.strip().splitlines()[-1]) - started


def start_up(directory: Path) -> list[Row]:
    try:
        import lightning
    except ImportError:
        return []
    manifest = str(write_manifest(directory, "startup", epochs=1))
    times: dict[str, list[float]] = {"zoo": [], "lightning": []}
    for round_index in range(STARTUP_WARMUP + STARTUP_ROUNDS):
        zoo = first_step_seconds(["zoo", manifest, str(directory / f"s{round_index}")])
        lightning = first_step_seconds(["lightning", manifest])
        if round_index >= STARTUP_WARMUP:
            times["zoo"].append(zoo)
            times["lightning"].append(lightning)
    return [Row("start-up to the first optimizer step: zoo train vs Lightning", statistics.median(times["zoo"]),
                statistics.median(times["lightning"]), "s", target=1.0,
                note="fresh process each (python start, imports, manifest, data, model) until the first "
                     f"optimizer.step returns; median of {STARTUP_ROUNDS} alternated runs after a warm-up")]


def measure() -> list[Row]:
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as directory:
        return [*loading(Path(directory)), *throughput(Path(directory)), *checkpoint_writer(Path(directory)),
                *start_up(Path(directory))]
