"""What the running verb shows while its user waits: ``"bars"``, ``"lines"`` or ``"off"``, set once by the verb.

A verb picks its display from its options (:func:`display_of`) and sets it for its block
(:func:`showing`); the steps deep inside it that make the user wait (the export step, a download)
read it with :func:`current_display`. It sits at the bottom of the package so that any layer may read
it; the bars themselves are :mod:`flexzoo.reporting.progress`.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Literal, TextIO

__all__ = ["Display", "current_display", "display_of", "on_rank_zero", "on_terminal", "rate", "showing"]

Display = Literal["bars", "lines", "off"]

_DISPLAY: ContextVar[Display | None] = ContextVar("flexzoo_progress_display", default=None)


def on_rank_zero() -> bool:
    """Whether this process is rank 0 (or not distributed at all): only rank 0 shows progress."""
    return os.environ.get("RANK", "0") == "0"


def display_of(*, json: bool = False, quiet: bool = False) -> Display:
    """A verb's display from its options: nothing with ``--json`` or off rank 0, plain lines with ``--quiet``."""
    if json or not on_rank_zero():
        return "off"
    return "lines" if quiet else "bars"


@contextlib.contextmanager
def showing(display: Display) -> Iterator[None]:
    """The display the steps of a verb (the export step, downloads) use until the block ends."""
    token = _DISPLAY.set(display)
    try:
        yield
    finally:
        _DISPLAY.reset(token)


def current_display() -> Display | None:
    """The display a verb set with :func:`showing`; ``None`` outside one (a library call: show nothing)."""
    return _DISPLAY.get()


def on_terminal(stream: TextIO | None = None) -> bool:
    """Whether ``stream`` (stderr by default) is a terminal a bar can be redrawn on."""
    stream = stream or sys.stderr
    return bool(getattr(stream, "isatty", lambda: False)())


def rate(speed: float | None, unit: str) -> str:
    """``1,234 samples/s``; under one a second, the seconds each takes (``4.2 s/trial``); bytes as ``MB/s``."""
    if speed is None:
        return f"- {unit}/s"
    if unit == "B":
        return f"{speed / 1e6:,.1f} MB/s"
    if speed < 1:
        return f"{1 / speed:,.1f} s/{unit.removesuffix('s')}" if speed > 0 else f"- {unit}/s"
    return f"{speed:,.0f} {unit}/s"
