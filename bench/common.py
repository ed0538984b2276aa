"""What benchmark measures share: the row they report and a fair timer."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from flexzoo.reporting.report import median_seconds_interleaved  # the timer the compression report uses

#: The digits CNN the serving, prediction, monitoring and training benchmarks measure: one 8x8 digit in, ten
#: classes out. A benchmark adds its own sections (a second head, ``[train]``, ``[distributed]``) after it.
DIGITS_MANIFEST = """\
[model]
name = "bench"
seed = 0
input_shape = [1, 8, 8]

[backbone]
use = "cnn"
channels = [16, 32]

[heads.digit]
use = "linear"
num_classes = 10
"""


def write_digits_manifest(directory: Path, extra: str = "", name: str = "bench.toml") -> Path:
    """:data:`DIGITS_MANIFEST` with ``extra`` (more TOML sections) after it, written to ``directory / name``."""
    path = Path(directory) / name
    path.write_text(DIGITS_MANIFEST + extra)
    return path


@dataclass
class Row:
    """A measured value against a baseline from the same run; ``ratio = value / baseline``.

    ``target`` is the ratio to meet; ``lower_is_better`` says which side of it is good. A row that
    needs what this machine lacks (``needs="a GPU"``) has no value and says so: it is filled in where
    that is present.
    """

    name: str
    value: float | None
    baseline: float | None
    unit: str
    target: float | None = None
    lower_is_better: bool = True
    note: str = ""
    needs: str = ""

    @classmethod
    def unmeasured(cls, name: str, needs: str, target: float | None = None, lower_is_better: bool = True,
                   note: str = "") -> Row:
        """A row this machine cannot measure: it lacks ``needs`` (for example "a GPU")."""
        return cls(name, None, None, "", target, lower_is_better, note, needs)

    @property
    def ratio(self) -> float | None:
        if self.value is None or self.baseline is None:
            return None
        return self.value / self.baseline

    @property
    def met(self) -> bool | None:
        if self.target is None or self.ratio is None:
            return None
        return self.ratio <= self.target if self.lower_is_better else self.ratio >= self.target

    def value_text(self) -> str:
        return f"needs {self.needs}" if self.value is None else f"{self.value:.4g} {self.unit}"

    def baseline_text(self) -> str:
        return "-" if self.baseline is None else f"{self.baseline:.4g} {self.unit}"

    def ratio_text(self) -> str:
        return "-" if self.ratio is None else f"{self.ratio:.3f}"

    def target_text(self) -> str:
        if self.target is None:
            return "-"
        return f"{'≤' if self.lower_is_better else '≥'} {self.target:g}"

    def met_text(self) -> str:
        return {None: "-", True: "yes", False: "NO"}[self.met]

    def as_dict(self) -> dict:
        return {**asdict(self), "ratio": self.ratio, "met": self.met}


def command_seconds(commands: Sequence[Sequence[str]], repeats: int, env: dict | None = None, warmup: int = 1
                    ) -> list[float]:
    """Median wall time of each command, interleaved, after ``warmup`` runs each."""
    runs = [lambda c=c: subprocess.run(c, check=True, capture_output=True, env=env) for c in commands]
    return median_seconds_interleaved(runs, repeats, warmup=warmup)


def command_wall_and_cpu(commands: Sequence[Sequence[str]], repeats: int, env: dict | None = None, warmup: int = 1
                         ) -> tuple[list[float], list[float]]:
    """Median wall seconds and median CPU seconds (user + system) of each command, from the same runs.

    Interleaved, each round in its own order as in ``median_seconds_interleaved``, after ``warmup`` rounds; each
    process's CPU is its own rusage (``os.wait4``), so one run of a command gives both numbers.
    """
    import os
    import random
    import statistics
    import time

    walls: list[list[float]] = [[] for _ in commands]
    cpus: list[list[float]] = [[] for _ in commands]
    order, shuffler = list(range(len(commands))), random.Random(0)
    for round_index in range(warmup + repeats):
        shuffler.shuffle(order)
        for index in order:
            command = commands[index]
            started = time.perf_counter()
            process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            stderr = process.stderr.read()
            _, status, usage = os.wait4(process.pid, 0)
            elapsed = time.perf_counter() - started
            process.returncode = os.waitstatus_to_exitcode(status)
            if process.returncode != 0:
                raise subprocess.CalledProcessError(process.returncode, command, stderr=stderr)
            if round_index >= warmup:
                walls[index].append(elapsed)
                cpus[index].append(usage.ru_utime + usage.ru_stime)
    return [statistics.median(v) for v in walls], [statistics.median(v) for v in cpus]


def cuda_available() -> bool:
    """Whether this machine has a CUDA device for the rows that need one."""
    import torch

    return torch.cuda.is_available()
