"""argparse's help formatter for ``zoo``'s verbs, without the imports argparse's own would make at start-up.

argparse asks ``shutil`` for the terminal's width (shutil imports the bz2 and lzma compressors) and wraps with
``textwrap`` (whose word-splitting pattern is compiled at import): this one asks ``os`` and wraps words itself.
"""

from __future__ import annotations

import argparse

from flexzoo.cli.help_text import terminal_columns, wrap


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
