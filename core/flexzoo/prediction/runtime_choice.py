"""``--runtime auto``: every runtime timed on the warm-up batch, the fastest that agrees with eager chosen.

Which runtime is fastest depends on the model and the machine (onnxruntime wins on small convolutional
nets on a CPU, ``torch.compile`` on large ones with many threads), so it is measured at load rather than
guessed: each runtime is opened, run once (``torch.compile`` compiles then), checked against the eager
model's outputs within the export tolerance, and timed on a batch of the configured size. A runtime that
cannot be opened here (onnxruntime not installed, an export that fails) or that disagrees is left out,
with its reason in the record. ``FLEXZOO_AUTO_RUNTIMES=eager,onnx`` narrows the runtimes tried (compiling
takes tens of seconds on a small machine).
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
_MIN_SECONDS, _MIN_RUNS, _MAX_RUNS = 0.2, 5, 50


@dataclass
class RuntimeChoice:
    """What ``auto`` measured: the runtime chosen, each candidate's median seconds per batch, and why any
    candidate was left out."""

    chosen: str
    batch_size: int
    seconds: dict[str, float] = field(default_factory=dict)
    rejected: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """As ``GET /v1/models/NAME`` reports it (milliseconds per batch)."""
        return {"requested": "auto", "chosen": self.chosen, "batch_size": self.batch_size,
                "milliseconds_per_batch": {name: round(value * 1000, 4) for name, value in self.seconds.items()},
                "rejected": dict(self.rejected)}

    def summary(self) -> str:
        """One line for the log: the choice, then each runtime's time per batch."""
        timed = ", ".join(f"{name} {value * 1000:.2f} ms" for name, value in self.seconds.items())
        left = "".join(f"; {name} left out: {reason}" for name, reason in self.rejected.items())
        return f"runtime auto chose {self.chosen} (batch of {self.batch_size}: {timed}{left})"


def candidates_here() -> tuple[str, ...]:
    """The runtimes ``auto`` tries: all of them, or those ``FLEXZOO_AUTO_RUNTIMES`` lists (comma-separated)."""
    given = [name.strip() for name in os.environ.get("FLEXZOO_AUTO_RUNTIMES", "").split(",") if name.strip()]
    unknown = [name for name in given if name not in CANDIDATES]
    if unknown:
        raise FlexzooError(f"FLEXZOO_AUTO_RUNTIMES names {', '.join(unknown)}, which `auto` cannot try; runtimes: "
                           f"{', '.join(CANDIDATES)}")
    return tuple(given) or CANDIDATES


def _median_seconds(runs: dict[str, Runtime], batch: np.ndarray) -> dict[str, float]:
    """Each runtime's median wall time of one batch, the runtimes taking turns (so a busy moment of the
    machine falls on all of them), over at least ``_MIN_RUNS`` rounds and ``_MIN_SECONDS`` each."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    while True:
        for name, run in runs.items():
            started = time.perf_counter()
            run(batch)
            times[name].append(time.perf_counter() - started)
        rounds = len(times["eager"])
        if rounds >= _MAX_RUNS or (rounds >= _MIN_RUNS and min(map(sum, times.values())) >= _MIN_SECONDS):
            return {name: statistics.median(values) for name, values in times.items()}


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
    """The fastest of ``candidates`` (default: :func:`candidates_here`) on a seeded batch of ``batch_size``
    that matches eager, and what was measured.

    Eager is always timed too, as the reference and the fallback: the choice is never slower than eager
    as measured here.
    """
    candidates = candidates_here() if candidates is None else candidates
    batch = np.random.default_rng(0).standard_normal((max(batch_size, 1), *input_shape)).astype(np.float32)
    choice = RuntimeChoice(chosen="eager", batch_size=max(batch_size, 1))
    opened = {"eager": open_runtime(model, input_shape, "eager")}
    expected = {key: value.astype(np.float64) for key, value in opened["eager"](batch).items()}
    for name in (candidate for candidate in candidates if candidate != "eager"):
        try:
            run = open_runtime(model, input_shape, name)
            outputs = run(batch)  # the first run: compiles, allocates
        except Exception as exc:  # a runtime that cannot run here is left out, with why
            message = str(exc).strip().splitlines()
            choice.rejected[name] = f"{type(exc).__name__}: {message[0] if message else ''}"
            continue
        reason = _disagreement(expected, outputs)
        if reason is None:
            opened[name] = run
        else:
            choice.rejected[name] = reason
    choice.seconds = _median_seconds(opened, batch)
    choice.chosen = min(choice.seconds, key=choice.seconds.__getitem__)
    log.info(choice.summary())
    return choice.chosen, opened[choice.chosen], choice
