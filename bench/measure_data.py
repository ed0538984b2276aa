"""Training data at scale (issue 10): peak RSS of `zoo train` on 20,000 vs 1,000 images, and loader throughput.

Images: random 224x224 JPEGs generated once into /tmp/flexzoo-bench-images-N (reused by later runs).

- Memory: `zoo train` of a small builtin cnn, batch 64, 2 workers. One epoch of 20,000 images at
  3x224x224 takes far longer than a bench may on two shared CPU cores, so both runs are bounded the
  same way: stopped after RSS_SECONDS of wall time (each has then run its listing, its split, the
  mean/std and training steps: the old in-memory path had decoded every image before its first step).
  Peak RSS is the largest sum of RSS over the `zoo` process and its loader workers, sampled every 0.1 s
  (shared pages are counted once per process, so this over-states).
- The pre-issue-10 path cannot start on 20,000 images: `python bench/measure_data.py --old-against-new` runs
  it faithfully (torch loaded, decode to float32, np.stack, the fingerprint's copy) in a child process under
  RLIMIT_AS = this machine's MemTotal, and reports where it failed with MemoryError and what it held, next
  to `zoo train`'s peak RSS on the same folder (the new path). The child refuses to make an allocation the
  kernel would grant when it leaves less than SPARE free to the machine's other processes.
- Throughput: images/s of flexzoo's DataLoader path (Pipeline.training_data().batches) against a hand-written
  torchvision ImageFolder + DataLoader with the same transforms (resize 224 bilinear, to [0, 1], normalize),
  batch 64, 2 workers, the same BATCHES batches of the same folder, interleaved, median of REPEATS.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import Row

RSS_SECONDS = 75
SPARE = 4 * 1024 ** 3  # memory left to the machine's other processes by the old path's run under RLIMIT_AS
STEPS = 6  # timed training steps of the input-bound row
STEP_BATCH = 32
BATCHES = 12
REPEATS = 3
WORKERS = 2
SMALL, LARGE = 1_000, 20_000  # images in the two folders
# The smoke starts one loader worker where the bench starts two: each is a process that imports torch.
SMOKE = {"SMALL": 8, "LARGE": 16, "STEPS": 1, "STEP_BATCH": 2, "BATCHES": 1, "REPEATS": 1, "WORKERS": 1}
MEAN, STD = [0.5, 0.5, 0.5], [0.25, 0.25, 0.25]
MANIFEST = """
[model]
name = "bench_data"
seed = 0
input_shape = [3, 224, 224]

[backbone]
use = "cnn"
channels = [8, 16]

[heads.label]
use = "linear"
num_classes = 2

[train]
data = "imagefolder:{root}"
epochs = 1
batch_size = 64
workers = {workers}
device = "cpu"

[train.preprocess]
mean = {mean}
std = {std}
"""


def _write(args: tuple[Path, int, int]) -> None:
    import numpy as np
    from PIL import Image

    folder, start, stop = args
    rng = np.random.default_rng(start)
    for index in range(start, stop):
        label = index % 2
        target = folder / f"c{label}" / f"{index:06d}.jpg"
        if target.exists():
            continue
        small = rng.integers(0, 255, (28, 28, 3), dtype=np.uint8)  # upscaled: quick to encode, still 224x224
        Image.fromarray(small).resize((224, 224), Image.BILINEAR).save(target, quality=85)


def image_folder(count: int) -> Path:
    """A folder of ``count`` 224x224 JPEGs in two classes, made once."""
    from multiprocessing import Pool

    root = Path(tempfile.gettempdir()) / f"flexzoo-bench-images-{count}"
    if (root / ".complete").exists():
        return root
    for label in (0, 1):
        (root / f"c{label}").mkdir(parents=True, exist_ok=True)
    chunks = [(root, start, min(start + 500, count)) for start in range(0, count, 500)]
    with Pool(2) as pool:
        pool.map(_write, chunks)
    (root / ".complete").write_text("")
    return root


def _tree_rss(pid: int) -> int:
    """Bytes of RSS of ``pid`` and all its descendants."""
    total, queue = 0, [pid]
    while queue:
        current = queue.pop()
        try:
            with open(f"/proc/{current}/statm") as stream:
                total += int(stream.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
            with open(f"/proc/{current}/task/{current}/children") as stream:
                queue += [int(child) for child in stream.read().split()]
        except (OSError, ValueError):
            continue
    return total


def peak_rss(root: Path, work: Path) -> float:
    """Peak RSS (bytes) of `zoo train` on ``root`` within RSS_SECONDS."""
    manifest = work / f"{root.name}.toml"
    manifest.write_text(MANIFEST.format(root=root, workers=WORKERS, mean=MEAN, std=STD))
    command = [sys.executable, "-c", "import sys; from flexzoo.cli import main; sys.exit(main())", "train",
               str(manifest), "-o", str(work / root.name), "-q"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak, deadline = 0, time.monotonic() + RSS_SECONDS
    while process.poll() is None and time.monotonic() < deadline:
        peak = max(peak, _tree_rss(process.pid))
        time.sleep(0.1)
    if process.poll() is None:
        process.terminate()
        process.wait(timeout=30)
    elif process.returncode:
        raise RuntimeError(f"zoo train failed: {process.stderr.read().decode()[-2000:]}")
    return peak


def throughput(root: Path, work: Path) -> tuple[float, float]:
    """Images/s of flexzoo's loader and of a hand-written ImageFolder + DataLoader (median of REPEATS, interleaved)."""
    import statistics

    import torch
    from torchvision import datasets
    from torchvision.transforms import v2

    from flexzoo.manifest.validation import load_manifest
    from flexzoo.pipeline.stages import Pipeline

    manifest = work / "throughput.toml"
    manifest.write_text(MANIFEST.format(root=root, workers=WORKERS, mean=MEAN, std=STD))
    data = Pipeline(load_manifest(manifest)).training_data()
    data.preprocessing()
    order = data.train_index[torch.randperm(len(data.train_index), generator=torch.Generator().manual_seed(0))]
    batches = [order[i * 64:(i + 1) * 64] for i in range(BATCHES)]

    transform = v2.Compose([v2.Resize((224, 224), interpolation=v2.InterpolationMode.BILINEAR), v2.PILToTensor(),
                            v2.ToDtype(torch.float32, scale=True), v2.Normalize(MEAN, STD)])
    folder = datasets.ImageFolder(str(root), transform=transform)
    loader = torch.utils.data.DataLoader(folder, batch_sampler=[b.tolist() for b in batches], num_workers=WORKERS,
                                         persistent_workers=True, prefetch_factor=2)

    def ours() -> int:
        return sum(len(inputs) for inputs, _ in data.batches(batches, epoch=0, train=False))

    def theirs() -> int:
        return sum(len(inputs) for inputs, _ in loader)

    rates: dict[str, list[float]] = {"ours": [], "theirs": []}
    for repeat in range(REPEATS + 1):  # the first round warms both up (workers started, files cached)
        for name, run in (("ours", ours), ("theirs", theirs)):
            start = time.perf_counter()
            count = run()
            if repeat:
                rates[name].append(count / (time.perf_counter() - start))
    data.close()
    return statistics.median(rates["ours"]), statistics.median(rates["theirs"])


def input_bound(root: Path, work: Path) -> tuple[float, float]:
    """Seconds per training step of a timm resnet10t (batch STEP_BATCH, 3x224x224) fed by flexzoo's loader at
    WORKERS workers, and fed one batch loaded beforehand (median of STEPS steps each, after a warm-up step)."""
    import statistics

    import timm
    import torch

    from flexzoo.manifest.validation import load_manifest
    from flexzoo.pipeline.stages import Pipeline

    manifest = work / "input_bound.toml"
    manifest.write_text(MANIFEST.format(root=root, workers=WORKERS, mean=MEAN, std=STD))
    data = Pipeline(load_manifest(manifest)).training_data()
    data.preprocessing()
    order = data.train_index[torch.randperm(len(data.train_index), generator=torch.Generator().manual_seed(0))]
    batches = [order[i * STEP_BATCH:(i + 1) * STEP_BATCH] for i in range(STEPS + 1)]
    torch.manual_seed(0)
    model = timm.create_model("resnet10t", num_classes=2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)

    def step(inputs: torch.Tensor, labels: torch.Tensor) -> None:
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(inputs), labels).backward()
        optimizer.step()

    def timed(feed: Any) -> float:
        times, start = [], time.perf_counter()
        for inputs, targets in feed:
            step(inputs, targets["label"])
            times.append(time.perf_counter() - start)
            start = time.perf_counter()
        return statistics.median(times[1:])  # the first waits for the workers to start

    loaded = timed(data.batches(batches, epoch=0, train=True))
    preloaded = data.batch(batches[0])
    fixed = timed([preloaded] * (STEPS + 1))
    data.close()
    return loaded, fixed


def decode_all(root: Path) -> int:
    """The in-memory image path as it was before issue 10 (training/data.py at a974e29^, reproduced): every
    image decoded to float32 and stacked into one array. Returns this process's peak RSS growth in bytes."""
    import resource

    import numpy as np
    from PIL import Image

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    images = []
    for file in sorted(root.rglob("*.jpg")):
        with Image.open(file) as image:
            pixels = np.asarray(image.convert("RGB").resize((224, 224), Image.BILINEAR), dtype=np.float32)
        images.append(pixels.reshape(224, 224, 3).transpose(2, 0, 1) / 255.0)
    stacked = np.stack(images)
    del images, stacked
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before


def _memory_kib(field: str, path: str = "/proc/self/status") -> int:
    with open(path) as stream:
        return int(next(line for line in stream if line.startswith(f"{field}:")).split()[1])


def old_path_under_limit(root: Path, limit: int) -> dict[str, Any]:
    """The pre-issue-10 path, faithfully (torch loaded, decode to float32, np.stack, the fingerprint's tobytes
    copy), run under ``RLIMIT_AS = limit`` bytes. Returns where it stopped and the memory it held then.

    Each allocation is first checked against the limit: one the kernel would grant is not made when it
    would hold more than the machine can spare (the run stops with "unsafe" instead of thrashing)."""
    import hashlib
    import resource

    import numpy as np
    import torch  # noqa: F401  (the old path ran inside `zoo train`, with torch loaded)
    from PIL import Image

    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    files, images = sorted(root.rglob("*.jpg")), []
    state: dict[str, Any] = {"images": len(files), "limit_gib": limit / 1024 ** 3}

    def held() -> dict[str, float]:
        return {"rss_gib": _memory_kib("VmRSS") / 1024 ** 2, "address_space_gib": _memory_kib("VmSize") / 1024 ** 2}

    def allocating(stage: str, size: int) -> None:
        state.update(stage=stage, asked_gib=size / 1024 ** 3, **held())
        free = _memory_kib("MemAvailable", "/proc/meminfo") * 1024
        if _memory_kib("VmSize") * 1024 + size <= limit and size + SPARE > free:
            raise SystemExit(f"unsafe: {stage} would be granted {size / 1024 ** 3:.1f} GiB; "
                             f"{free / 1024 ** 3:.1f} GiB are free")

    allocating("decoding every image", len(files) * 3 * 224 * 224 * 4)  # the list the old path filled
    try:
        for number, file in enumerate(files):
            state.update(stage="decode", decoded=number)
            with Image.open(file) as image:
                pixels = np.asarray(image.convert("RGB").resize((224, 224), Image.BILINEAR), dtype=np.float32)
            images.append(pixels.reshape(224, 224, 3).transpose(2, 0, 1) / 255.0)
        state["decoded"] = len(images)
        allocating("np.stack of the decoded images", sum(image.nbytes for image in images))
        stacked = np.stack(images)
        del images
        allocating("the fingerprint's tobytes copy", stacked.nbytes)
        hashlib.sha256(stacked.tobytes())
        state["stage"] = "started: every image decoded, stacked and hashed"
    except MemoryError:
        state["error"] = "MemoryError"
    return state


def old_path_limited(root: Path) -> dict[str, Any]:
    """``old_path_under_limit`` in a fresh process, limited to this machine's RAM (MemTotal)."""
    import json

    limit = _memory_kib("MemTotal", "/proc/meminfo") * 1024
    output = subprocess.run([sys.executable, __file__, "--old-path-limited", str(root), str(limit)],
                            capture_output=True, text=True)
    if output.returncode:
        return {"error": output.stderr.strip().splitlines()[-1] if output.stderr.strip() else "failed"}
    return json.loads(output.stdout.splitlines()[-1])


def in_memory_peak(root: Path) -> float:
    """Peak RSS growth (bytes) of the old in-memory path on ``root``, in a fresh process."""
    output = subprocess.run([sys.executable, __file__, "--decode-all", str(root)], check=True, capture_output=True,
                            text=True).stdout
    return float(output.split()[-1])


def measure() -> list[Row]:
    small, large = image_folder(SMALL), image_folder(LARGE)
    with tempfile.TemporaryDirectory() as work:
        ours, theirs = throughput(large, Path(work))
        loaded, preloaded = input_bound(small, Path(work))
        old_peak = in_memory_peak(small) / SMALL * LARGE
        small_rss = peak_rss(small, Path(work))
        large_rss = peak_rss(large, Path(work))
    gib = 1024 ** 3
    bound = f"each run stopped after {RSS_SECONDS} s of wall time (2 shared CPU cores), same for both"
    return [
        Row(f"zoo train peak RSS, {LARGE:,} vs {SMALL:,} images 3x224x224 (cnn, batch 64, 2 workers)", large_rss / gib,
            small_rss / gib, "GiB", target=1.5, note=bound),
        Row(f"zoo train peak RSS, {LARGE:,} images, vs 4 GiB", large_rss / gib, 4.0, "GiB", target=1.0, note=bound),
        Row("loader images/s: flexzoo vs torchvision ImageFolder + DataLoader (2 workers, batch 64)", ours, theirs,
            "img/s", target=0.95, lower_is_better=False,
            note=f"{BATCHES} batches, interleaved, median of {REPEATS}"),
        Row(f"pre-issue-10 in-memory image path, {LARGE:,} images 3x224x224: peak RSS growth vs the 4 GiB bound",
            old_peak / gib, 4.0, "GiB", target=1.0, lower_is_better=False,
            note=f"decode to float32 + stack, measured on {SMALL:,} images x{LARGE // SMALL} (linear in the count); "
                 "before the "
                 "process's own memory and the fingerprint's full copy"),
        Row(f"timm resnet10t training step (batch {STEP_BATCH}, 3x224x224): fed by the loader at {WORKERS} workers "
            "vs a batch loaded beforehand", loaded, preloaded, "s/step", target=1.1,
            note=f"median of {STEPS} steps; workers share the 2 CPU cores with training (not input-bound: ~1.0)"),
    ]


if __name__ == "__main__":
    if sys.argv[1:2] == ["--decode-all"]:
        print(decode_all(Path(sys.argv[2])))
        sys.exit(0)
    if sys.argv[1:2] == ["--old-path-limited"]:
        import json

        print(json.dumps(old_path_under_limit(Path(sys.argv[2]), int(sys.argv[3]))))
        sys.exit(0)
    if sys.argv[1:2] == ["--old-against-new"]:  # the two memory rows alone: python bench/measure_data.py --old-...
        large = image_folder(20_000)
        print("old path under RLIMIT_AS = MemTotal:", old_path_limited(large))
        with tempfile.TemporaryDirectory() as work:
            print(f"new path: zoo train peak RSS {peak_rss(large, Path(work)) / 1024 ** 3:.2f} GiB "
                  f"(stopped after {RSS_SECONDS} s)")
        sys.exit(0)
    for row in measure():
        print(f"{row.name}: {row.value_text()} vs {row.baseline_text()} (ratio {row.ratio:.3f}, target "
              f"{row.target_text()}, met {row.met_text()}) {row.note}")
