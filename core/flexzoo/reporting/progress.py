"""Progress for the long verbs: rich bars with the rate, elapsed time and ETA on a terminal, plain lines otherwise.

One mechanism for every verb that makes its user wait (training and validation, prediction,
evaluation, tuning, exports, transfers). A verb picks its *display* once from its options with
:func:`display_of`: ``"bars"`` (bars on a terminal, one plain line per unit of work off one),
``"lines"`` (``--quiet``: the plain lines even on a terminal) or ``"off"`` (``--json``, and every rank
but 0). :class:`Bars` draws one bar per piece of work while a terminal watches; :class:`Units` is a
verb's work in named units (an evaluation pass, a trial, an export format), each ending in one line.
Steps deep in a run (the export step, a download) read the display the verb set with
:func:`showing` (from :mod:`flexzoo.display`, low enough for the hub's downloads to read); outside a
verb it is ``None`` and they show nothing of their own. rich is imported only when a bar is drawn, so
listing and help never pay for it.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

from flexzoo.display import Display, current_display, display_of, on_rank_zero, on_terminal, rate, showing

__all__ = ["Bars", "Display", "Units", "current_display", "display_of", "on_rank_zero", "on_terminal", "rate",
           "showing"]

REFRESHES_PER_SECOND = 10


def _columns(unit: str) -> list[Any]:
    from rich.progress import BarColumn, MofNCompleteColumn, ProgressColumn, TextColumn, TimeElapsedColumn
    from rich.text import Text

    class Rate(ProgressColumn):
        """Work done per second, over rich's recent window (the mean since the start until it has one)."""

        def render(self, task: Any) -> Text:
            speed = task.finished_speed or task.speed
            if speed is None and task.completed and task.elapsed:
                speed = task.completed / task.elapsed
            return Text(rate(speed, task.fields.get("unit") or unit), style="progress.data.speed")

    class Remaining(ProgressColumn):
        """The estimated time left, as ``ETA 0:01:05`` (from the mean so far until rich has a recent rate)."""

        def render(self, task: Any) -> Text:
            left = task.time_remaining
            if left is None and task.completed and task.elapsed and task.total:  # slow units: the mean so far
                left = (task.total - task.completed) * task.elapsed / task.completed
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

    def add(self, description: str, total: int | None, unit: str | None = None) -> Any:
        """A new bar for ``total`` units of work (``unit``: this bar's own, default the ``Bars``' unit); its id
        for ``advance`` (None when nothing is shown)."""
        if not self.shown:
            return None
        return self._live().add_task(description, total=total, note="", unit=unit or self.unit)

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
            self._progress.refresh()  # its last state drawn once, however short-lived it was
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


class Units:
    """A verb's work in named units (evaluation passes, tuning trials, export formats), shown as ``display`` says.

    ``"bars"`` on a terminal: an overall bar ``description  n/N`` with the rate, elapsed time and ETA, and
    while a unit runs, its own bar over its samples; each finished unit's line is printed above the bars.
    ``"bars"`` off a terminal, and ``"lines"``: only the lines, one per unit. ``"off"``: nothing.
    ``console`` (a ``rich.console.Console``) stands in for the terminal. Use it as a context manager.
    """

    def __init__(self, description: str, total: int | None, unit: str = "units", *, display: Display = "bars",
                 done: int = 0, stream: TextIO | None = None, console: Any = None) -> None:
        self.display = display
        self.bars = Bars(unit, shown=None if display == "bars" else False, stream=stream, console=console)
        self.overall = self.bars.add(description, total)
        self.bars.advance(self.overall, done)  # units done before (a resumed study's trials)
        self._unit: Any = None
        self._started = time.monotonic()

    def begin(self, name: str, total: int | None = None, unit: str = "samples") -> Callable[[int], None]:
        """A unit starts; on a terminal it gets a bar of ``total`` ``unit`` (none when ``total`` is None).

        Returns ``advance(amount)``, to call as the unit's work gets done.
        """
        self._started = time.monotonic()
        self.bars.remove(self._unit)
        self._unit = self.bars.add(name, total, unit) if total is not None else None
        bar = self._unit
        return lambda amount: self.bars.advance(bar, amount)

    def end(self, line: str, note: str | None = None) -> float:
        """The unit is done: its ``line`` with the seconds it took, and the overall bar one further.

        ``note`` (e.g. the best trial so far) replaces the overall bar's text after its ETA. Returns the seconds.
        """
        seconds = time.monotonic() - self._started
        self.bars.remove(self._unit)
        self._unit = None
        self.bars.advance(self.overall, 1, note)  # before the line: the bars redrawn below it are up to date
        if self.display != "off":
            self.bars.print(f"{line}  ({seconds:.1f} s)")
        return seconds

    def close(self) -> None:
        """Stop drawing (the end of the work, or its failure)."""
        self.bars.close()

    def __enter__(self) -> Units:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
