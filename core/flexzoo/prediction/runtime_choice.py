"""``--runtime auto``: every runtime timed as the server will run it, the cheapest that agrees with eager chosen.

Which runtime is fastest depends on the model and the machine (onnxruntime wins on small convolutional
nets on a CPU, ``torch.compile`` on large ones with many threads), so it is measured at load rather than
guessed: each runtime is opened, checked against the eager model's outputs within the export tolerance,
run once at every batch size timed (``torch.compile`` compiles then), and timed. A runtime that cannot be
opened here (onnxruntime not installed, an export that fails) or that disagrees is left out, with its
reason in the record. ``FLEXZOO_AUTO_RUNTIMES=eager,onnx`` narrows the runtimes tried (compiling takes
tens of seconds on a small machine).

What is timed is what decides a busy server's throughput, not one batch on an idle machine:

- the batch sizes the batcher forms: from one request up to the largest batch (at concurrency 32 and a
  largest batch of 32 they average 8 to 10 samples), so every power of two up to the largest is timed and
  each counts the same;
- the CPU a batch takes as well as its wall time: at full load the event loop (reading, parsing and
  answering requests) keeps a core busy, so a batch costs its wall time or its CPU time spread over the
  other cores, whichever is longer. A runtime that is fast only by using every core loses to one that
  does the same work on fewer. (onnxruntime sessions use as many threads as torch and do not spin
  between runs: :func:`flexzoo.exporting.exporters.onnx_session_options`.)
"""

from __future__ import annotations

import logging
import os
import statistics
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from flexzoo.errors import FlexzooError
from flexzoo.manifest.defaults import EXPORT_TOLERANCE
from flexzoo.prediction.runtimes import Runtime, open_runtime

if TYPE_CHECKING:
    from torch import nn

__all__ = ["RuntimeChoice", "choose_runtime"]

log = logging.getLogger("flexzoo.prediction")

#: Runtimes ``auto`` tries, eager first (the reference the others are checked against).
CANDIDATES = ("eager", "onnx", "exported-program", "compile")
#: Rounds of timing: at least ``_MIN_RUNS`` and ``_MIN_SECONDS`` of each runtime's time, at most ``_MAX_RUNS``
#: rounds or ``_MAX_SECONDS`` in all (so a large model on a small machine still loads in bounded time).
_MIN_SECONDS, _MIN_RUNS, _MAX_RUNS, _MAX_SECONDS = 0.3, 5, 50, 20.0


@dataclass
class RuntimeChoice:
    """What ``auto`` measured: the runtime chosen, each candidate's served cost per sample (the median over
    rounds at each batch size, averaged over the sizes) with the wall and CPU times it comes from, and why
    any candidate was left out."""

    chosen: str
    batch_size: int
    batch_sizes: tuple[int, ...] = ()
    seconds: dict[str, float] = field(default_factory=dict)  # served cost per sample
    wall: dict[str, float] = field(default_factory=dict)  # wall seconds per sample
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds per sample, all threads
    rejected: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """As ``GET /v1/models/NAME`` reports it (milliseconds per sample)."""

        def milliseconds(values: dict[str, float]) -> dict[str, float]:
            return {name: round(value * 1000, 4) for name, value in values.items()}

        return {"requested": "auto", "chosen": self.chosen, "batch_size": self.batch_size,
                "batch_sizes": list(self.batch_sizes), "milliseconds_per_sample": milliseconds(self.seconds),
                "wall_milliseconds_per_sample": milliseconds(self.wall),
                "cpu_milliseconds_per_sample": milliseconds(self.cpu), "rejected": dict(self.rejected)}

    def summary(self) -> str:
        """One line for the log: the choice, then each runtime's served cost, wall and CPU time per sample."""
        timed = ", ".join(f"{name} {value * 1000:.3f} ms (wall {self.wall[name] * 1000:.3f}, cpu "
                          f"{self.cpu[name] * 1000:.3f})" for name, value in self.seconds.items())
        left = "".join(f"; {name} left out: {reason}" for name, reason in self.rejected.items())
        sizes = ", ".join(map(str, self.batch_sizes))
        return f"runtime auto chose {self.chosen} (per sample over batches of {sizes}: {timed}{left})"


def candidates_here() -> tuple[str, ...]:
    """The runtimes ``auto`` tries: all of them, or those ``FLEXZOO_AUTO_RUNTIMES`` lists (comma-separated)."""
    given = [name.strip() for name in os.environ.get("FLEXZOO_AUTO_RUNTIMES", "").split(",") if name.strip()]
    unknown = [name for name in given if name not in CANDIDATES]
    if unknown:
        raise FlexzooError(f"FLEXZOO_AUTO_RUNTIMES names {', '.join(unknown)}, which `auto` cannot try; runtimes: "
                           f"{', '.join(CANDIDATES)}")
    return tuple(given) or CANDIDATES


def batch_sizes(largest: int) -> tuple[int, ...]:
    """The batch sizes timed: the powers of two below ``largest``, then ``largest``."""
    largest = max(largest, 1)
    return (*(1 << i for i in range(largest.bit_length()) if 1 << i < largest), largest)


def spare_cores() -> int:
    """The cores a busy server's model calls have: all this process may use but the event loop's one."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(usable - 1, 1)


@dataclass
class _Timings:
    """Per runtime and batch size, the wall and CPU seconds of each round."""

    wall: dict[tuple[str, int], list[float]] = field(default_factory=dict)
    cpu: dict[tuple[str, int], list[float]] = field(default_factory=dict)

    def add(self, name: str, size: int, wall: float, cpu: float) -> None:
        self.wall.setdefault((name, size), []).append(wall)
        self.cpu.setdefault((name, size), []).append(cpu)

    def per_sample(self, times: dict[tuple[str, int], list[float]], name: str, sizes: tuple[int, ...]) -> float:
        """The median seconds at each size, per sample, averaged over the sizes."""
        return statistics.fmean(statistics.median(times[name, size]) / size for size in sizes)

    def served(self, name: str, sizes: tuple[int, ...], cores: int) -> float:
        """Per sample, averaged over the sizes: each size's wall time, or its CPU time over ``cores``, whichever
        is longer."""
        return statistics.fmean(max(statistics.median(self.wall[name, size]),
                                    statistics.median(self.cpu[name, size]) / cores) / size for size in sizes)


def _time(runs: dict[str, Runtime], batches: dict[int, np.ndarray]) -> _Timings:
    """Rounds in which each runtime, in turn, runs one batch of each size (so a busy moment of the machine
    falls on all of them)."""
    timings = _Timings()
    started = time.perf_counter()
    spent = dict.fromkeys(runs, 0.0)
    for rounds in range(1, _MAX_RUNS + 1):
        for name, run in runs.items():
            for size, batch in batches.items():
                wall, cpu = time.perf_counter(), time.process_time()
                run(batch)
                wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
                timings.add(name, size, wall, cpu)
                spent[name] += wall
        if rounds >= _MIN_RUNS and (min(spent.values()) >= _MIN_SECONDS
                                    or time.perf_counter() - started >= _MAX_SECONDS):
            break
    return timings


def _disagreement(expected: dict[str, np.ndarray], actual: dict[str, np.ndarray]) -> str | None:
    """Why ``actual`` does not match the eager outputs within the export tolerance (None: it does)."""
    for name, value in expected.items():
        other = actual.get(name)
        if other is None or other.shape != value.shape:
            shape = None if other is None else list(other.shape)
            return f"head `{name}` gives shape {shape}, eager {list(value.shape)}"
        diff = float(np.abs(other.astype(np.float64) - value).max()) if value.size else 0.0
        if not diff <= EXPORT_TOLERANCE:
            return f"differs from eager by up to {diff:.3g}, more than the tolerance {EXPORT_TOLERANCE:g}"
    return None


def choose_runtime(model: nn.Module, input_shape: tuple[int, ...], batch_size: int,
                   candidates: tuple[str, ...] | None = None) -> tuple[str, Runtime, RuntimeChoice]:
    """The cheapest of ``candidates`` (default: :func:`candidates_here`) in a busy server taking batches of up
    to ``batch_size``, among those that match eager on a seeded batch of that size, and what was measured.

    Eager is always timed too, as the reference and the fallback: the choice is never costlier than eager
    as measured here.
    """
    candidates = candidates_here() if candidates is None else candidates
    sizes = batch_sizes(batch_size)
    rng = np.random.default_rng(0)
    batches = {size: rng.standard_normal((size, *input_shape)).astype(np.float32) for size in sizes}
    largest = batches[sizes[-1]]
    choice = RuntimeChoice(chosen="eager", batch_size=sizes[-1], batch_sizes=sizes)
    opened = {"eager": open_runtime(model, input_shape, "eager")}
    expected = {key: value.astype(np.float64) for key, value in opened["eager"](largest).items()}
    for name in (candidate for candidate in candidates if candidate != "eager"):
        try:
            run = open_runtime(model, input_shape, name)
            outputs = run(largest)  # the first run: compiles, allocates
        except Exception as exc:  # a runtime that cannot run here is left out, with why
            message = str(exc).strip().splitlines()
            choice.rejected[name] = f"{type(exc).__name__}: {message[0] if message else ''}"
            continue
        reason = _disagreement(expected, outputs)
        if reason is None:
            opened[name] = run
        else:
            choice.rejected[name] = reason
    for run in opened.values():
        for batch in batches.values():  # each size once untimed: compile's specializations, first allocations
            run(batch)
    timings, cores = _time(opened, batches), spare_cores()
    for name in opened:
        choice.seconds[name] = timings.served(name, sizes, cores)
        choice.wall[name] = timings.per_sample(timings.wall, name, sizes)
        choice.cpu[name] = timings.per_sample(timings.cpu, name, sizes)
    choice.chosen = min(choice.seconds, key=choice.seconds.__getitem__)
    log.info(choice.summary())
    return choice.chosen, opened[choice.chosen], choice
