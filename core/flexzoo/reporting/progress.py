"""Progress for the long verbs: rich bars with the rate, elapsed time and ETA on a terminal, nothing otherwise.

One mechanism for every verb that makes its user wait (training and validation, prediction): a
``Bars`` draws one bar per piece of work while a terminal watches, and says nothing when the stream
is a pipe or a file — the verbs print their own plain lines there. rich is imported only when a bar
is drawn, so listing and help never pay for it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, TextIO

REFRESHES_PER_SECOND = 10


def on_terminal(stream: TextIO | None = None) -> bool:
    """Whether ``stream`` (stderr by default) is a terminal a bar can be redrawn on."""
    stream = stream or sys.stderr
    return bool(getattr(stream, "isatty", lambda: False)())


def _columns(unit: str) -> list[Any]:
    from rich.progress import BarColumn, MofNCompleteColumn, ProgressColumn, TextColumn, TimeElapsedColumn
    from rich.text import Text

    class Rate(ProgressColumn):
        """Work done per second, over rich's recent window (the mean since the start until it has one)."""

        def render(self, task: Any) -> Text:
            speed = task.finished_speed or task.speed
            if speed is None and task.completed and task.elapsed:
                speed = task.completed / task.elapsed
            return Text(f"{speed:,.0f} {unit}/s" if speed is not None else f"- {unit}/s", style="progress.data.speed")

    class Remaining(ProgressColumn):
        """The estimated time left, as ``ETA 0:01:05``."""

        def render(self, task: Any) -> Text:
            left = task.time_remaining
            shown = "-:--:--" if left is None else _clock(left)
            return Text(f"ETA {shown}", style="progress.remaining")

    return [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), Rate(), TimeElapsedColumn(),
            Remaining(), TextColumn("{task.fields[note]}")]


def _clock(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


class Bars:
    """Bars drawn by rich on a terminal, at most ten times a second; does nothing when ``shown`` is false.

    ``shown`` left out: bars when ``stream`` (stderr by default) is a terminal or a ``console`` is given.
    ``console`` (a ``rich.console.Console``) replaces the terminal, e.g. one with ``force_terminal=True``
    writing to a buffer. Use it as a context manager: leaving it stops the live display.
    """

    def __init__(self, unit: str = "samples", *, shown: bool | None = None, stream: TextIO | None = None,
                 console: Any = None) -> None:
        self.unit = unit
        self.stream = stream or sys.stderr
        self.shown = (console is not None or on_terminal(self.stream)) if shown is None else shown
        self.console = console
        self._progress: Any = None

    def _live(self) -> Any:
        if self._progress is None:
            from rich.console import Console
            from rich.progress import Progress

            console = self.console or Console(file=self.stream)
            self._progress = Progress(*_columns(self.unit), console=console,
                                      refresh_per_second=REFRESHES_PER_SECOND)
            self._progress.start()
        return self._progress

    def add(self, description: str, total: int | None) -> Any:
        """A new bar for ``total`` units of work; its id for ``advance`` (None when nothing is shown)."""
        if not self.shown:
            return None
        return self._live().add_task(description, total=total, note="")

    def advance(self, bar: Any, amount: int, note: str | None = None) -> None:
        """``amount`` more units done on ``bar``; ``note`` (e.g. the loss) replaces the text after the ETA."""
        if bar is None:
            return
        fields = {} if note is None else {"note": note}
        self._progress.update(bar, advance=amount, **fields)

    def counter(self, description: str, total: int) -> Callable[[int], None]:
        """A new bar, and a callback ``done(n)`` that marks ``n`` of ``total`` done on it (a running count)."""
        bar = self.add(description, total)

        def done(count: int) -> None:
            if bar is not None:
                self._progress.update(bar, completed=count)
        return done

    def remove(self, bar: Any) -> None:
        """Take a finished bar off the display."""
        if bar is not None:
            self._progress.remove_task(bar)
            self._progress.refresh()  # else a line printed next is followed by the bar's last drawing

    def print(self, line: str) -> None:
        """A line of text above the bars (the bars are redrawn below it)."""
        if self.shown:
            self._live().console.print(line, markup=False, highlight=False)
        else:
            self.stream.write(line + "\n")
            self.stream.flush()

    def close(self) -> None:
        """Stop the live display; the last drawing stays on the terminal."""
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def __enter__(self) -> Bars:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
