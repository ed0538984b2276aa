"""What a training run shows: per epoch, rich bars for training and validation on a terminal (samples/s,
elapsed, ETA, loss), one plain line per epoch otherwise, and a summary table at the end."""

from __future__ import annotations

import time
from typing import Any, TextIO

from flexzoo.reporting.progress import Bars
from flexzoo.reporting.tables import table

REFRESH_SECONDS = 0.1  # how often the loss is read (a device sync) for the bar


def _metrics_text(metrics: dict[str, float], limit: int = 4) -> str:
    shown = [f"{name} {value:.4g}" for name, value in list(metrics.items())[:limit]]
    return "  ".join(shown)


class Progress:
    """A run's progress on rank 0: bars on a terminal, one line per epoch otherwise; silent when not ``enabled``.

    ``bars`` false keeps to the plain lines even on a terminal (``zoo train --quiet``); ``console``
    (a ``rich.console.Console``) stands in for the terminal.
    """

    def __init__(self, epochs: int, steps: int, enabled: bool = True, stream: TextIO | None = None, *,
                 samples: int | None = None, validation_samples: int | None = None, bars: bool = True,
                 console: Any = None) -> None:
        self.epochs = epochs
        self.steps = steps
        self.samples = samples
        self.validation_samples = validation_samples
        self.enabled = enabled
        self.bars = Bars("samples", shown=None if enabled and bars else False, stream=stream, console=console)
        self.stream = self.bars.stream
        self.interactive = self.bars.shown
        self.read = 0.0
        self._training: Any = None
        self._validation: Any = None

    def step(self, epoch: int, step: int, loss: Any, samples: int | None = None) -> None:
        """After training step ``step`` (from 1) of ``epoch`` (from 0), over ``samples`` samples (all ranks).

        ``loss`` is read (a device sync) at most ten times a second, and only when bars are drawn.
        """
        if not self.interactive:
            return
        if self._training is None:
            self._training = self.bars.add(f"epoch {epoch + 1}/{self.epochs} train",
                                           self.samples if samples is not None else self.steps)
        note = None
        if time.monotonic() - self.read >= REFRESH_SECONDS or step == self.steps:
            self.read = time.monotonic()
            note = f"loss {float(loss):.4f}"
        self.bars.advance(self._training, samples if samples is not None else 1, note)

    def validating(self, epoch: int, samples: int) -> None:
        """After validating ``samples`` more samples (all ranks) of ``epoch`` (from 0)."""
        if not self.interactive:
            return
        if self._validation is None:
            self._validation = self.bars.add(f"epoch {epoch + 1}/{self.epochs} val", self.validation_samples)
        self.bars.advance(self._validation, samples)

    def epoch(self, record: dict[str, Any]) -> None:
        """After validation: one line per epoch with the training loss and the validation metrics."""
        if not self.enabled:
            return
        for bar in (self._training, self._validation):
            self.bars.remove(bar)
        self._training = self._validation = None
        self.bars.print(f"epoch {record['epoch']}/{self.epochs}  train loss {record['train_loss']:.4f}  "
                        f"val {_metrics_text(record['validation'])}  ({record['seconds']:.1f} s)")

    def close(self) -> None:
        """Stop drawing (the end of the run, or its failure)."""
        self.bars.close()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def summary_table(history: list[dict[str, Any]], higher_is_better: set[str]) -> str:
    """Each validation metric: its final value, and its best value with the epoch it came from."""
    rows = []
    for name, final in history[-1]["validation"].items():
        values = [(record["validation"][name], record["epoch"]) for record in history]
        pick = max if name.rpartition(".")[2] in higher_is_better else min
        best, epoch = pick(values, key=lambda pair: pair[0])
        rows.append([name, f"{final:.4f}", f"{best:.4f}", str(epoch)])
    return table(["VALIDATION METRIC", "FINAL", "BEST", "EPOCH"], rows)
