"""What a training run shows: a progress bar on a terminal (one line per epoch otherwise) and a summary table."""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from flexzoo.reporting.tables import table

BAR_WIDTH = 24
REFRESH_SECONDS = 0.1


def _metrics_text(metrics: dict[str, float], limit: int = 4) -> str:
    shown = [f"{name} {value:.4g}" for name, value in list(metrics.items())[:limit]]
    return "  ".join(shown)


class Progress:
    """A bar redrawn in place on a terminal, at most ten times a second; silent when ``enabled`` is false."""

    def __init__(self, epochs: int, steps: int, enabled: bool = True, stream: TextIO | None = None) -> None:
        self.epochs = epochs
        self.steps = steps
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.interactive = enabled and self.stream.isatty()
        self.drawn = 0.0

    def step(self, epoch: int, step: int, loss: Any) -> None:
        """After a training step; ``loss`` is read (a device sync) only when the bar is redrawn."""
        if not self.interactive or time.monotonic() - self.drawn < REFRESH_SECONDS:
            return
        self.drawn = time.monotonic()
        done = BAR_WIDTH * step // max(self.steps, 1)
        bar = "#" * done + "." * (BAR_WIDTH - done)
        self.stream.write(f"\repoch {epoch + 1}/{self.epochs} [{bar}] {step}/{self.steps}  loss {float(loss):.4f}")
        self.stream.flush()

    def epoch(self, record: dict[str, Any]) -> None:
        """After validation: one line per epoch with the training loss and the validation metrics."""
        if not self.enabled:
            return
        prefix = "\r\033[K" if self.interactive else ""
        self.stream.write(f"{prefix}epoch {record['epoch']}/{self.epochs}  train loss {record['train_loss']:.4f}  "
                          f"val {_metrics_text(record['validation'])}  ({record['seconds']:.1f} s)\n")
        self.stream.flush()


def summary_table(history: list[dict[str, Any]], higher_is_better: set[str]) -> str:
    """Each validation metric: its final value, and its best value with the epoch it came from."""
    rows = []
    for name, final in history[-1]["validation"].items():
        values = [(record["validation"][name], record["epoch"]) for record in history]
        pick = max if name.rpartition(".")[2] in higher_is_better else min
        best, epoch = pick(values, key=lambda pair: pair[0])
        rows.append([name, f"{final:.4f}", f"{best:.4f}", str(epoch)])
    return table(["VALIDATION METRIC", "FINAL", "BEST", "EPOCH"], rows)
