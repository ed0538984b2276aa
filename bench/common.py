"""What benchmark measures share: the row they report and a fair timer."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from flexzoo.reporting.report import median_seconds_interleaved  # the timer the compression report uses


@dataclass
class Row:
    """A measured value against a baseline from the same run; ``ratio = value / baseline``.

    ``target`` is the ratio to meet; ``lower_is_better`` says which side of it is good.
    """

    name: str
    value: float
    baseline: float
    unit: str
    target: float | None = None
    lower_is_better: bool = True
    note: str = ""

    @property
    def ratio(self) -> float:
        return self.value / self.baseline

    @property
    def met(self) -> bool | None:
        if self.target is None:
            return None
        return self.ratio <= self.target if self.lower_is_better else self.ratio >= self.target

    def value_text(self) -> str:
        return f"{self.value:.4g} {self.unit}"

    def baseline_text(self) -> str:
        return f"{self.baseline:.4g} {self.unit}"

    def target_text(self) -> str:
        if self.target is None:
            return "-"
        return f"{'≤' if self.lower_is_better else '≥'} {self.target:g}"

    def met_text(self) -> str:
        return {None: "-", True: "yes", False: "NO"}[self.met]

    def as_dict(self) -> dict:
        return {**asdict(self), "ratio": self.ratio, "met": self.met}


def command_seconds(commands: Sequence[Sequence[str]], repeats: int, env: dict | None = None) -> list[float]:
    """Median wall time of each command, interleaved, after one warm-up run each."""
    runs = [lambda c=c: subprocess.run(c, check=True, capture_output=True, env=env) for c in commands]
    return median_seconds_interleaved(runs, repeats, warmup=1)
