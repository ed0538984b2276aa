"""argparse's help formatter for ``zoo``, without the imports and patterns argparse's own would cost at start-up.

argparse asks ``shutil`` for the terminal's width (shutil imports the bz2 and lzma compressors) and wraps with
``textwrap`` (whose word-splitting pattern is compiled at import); ``zoo --help`` should cost little more than
starting Python, so the width is asked of ``os`` and the words are wrapped here.
"""

from __future__ import annotations

import argparse
import os
import sys


def terminal_columns() -> int:
    """``shutil.get_terminal_size().columns``: ``$COLUMNS``, else the terminal's width, else 80."""
    try:
        columns = int(os.environ.get("COLUMNS", "0"))
    except ValueError:
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns or 80


def wrap(text: str, width: int) -> list[str]:
    """``text``'s words in lines of at most ``width`` characters; a longer word has a line of its own."""
    lines: list[str] = []
    line = ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    return [*lines, line] if line else lines


class HelpFormatter(argparse.HelpFormatter):
    """argparse's formatter, as wide as the terminal less two columns (as argparse's), wrapping with :func:`wrap`."""

    def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 24,
                 width: int | None = None) -> None:
        super().__init__(prog, indent_increment, max_help_position,
                         terminal_columns() - 2 if width is None else width)

    def _split_lines(self, text: str, width: int) -> list[str]:
        return wrap(text, width)

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        return "\n".join(indent + line for line in wrap(text, width - len(indent)))
