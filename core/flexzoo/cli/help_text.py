"""``zoo``'s help text, at the cost of starting Python and little more.

``zoo --help`` is written here without argparse (its import, gettext's lookups and the patterns it compiles cost
half as much again as starting Python), laid out as argparse lays out the parser ``flexzoo.cli`` declares:
tests/test_cli.py checks that the two agree at several widths. The verbs' own help goes through argparse, with
:class:`flexzoo.cli.help_format.HelpFormatter`, which wraps with :func:`wrap` too.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing
if TYPE_CHECKING:
    from collections.abc import Mapping



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


def top_help(usage: str, description: str, verbs: Mapping[str, str], options: Mapping[str, str],
             width: int | None = None) -> str:
    """The help of a parser whose only positional is a COMMAND of ``verbs`` (name -> help), with ``options``
    (invocation -> help), laid out as argparse's ``format_help`` does at ``width`` (the terminal's, less 2)."""
    width = terminal_columns() - 2 if width is None else width
    items = [(2, "COMMAND", ""), *((4, name, text) for name, text in verbs.items())]
    listed = [(2, invocation, text) for invocation, text in options.items()]
    help_position = min(max(indent + len(name) for indent, name, _ in items + listed) + 2, min(24, max(width - 20, 4)))
    help_width = max(width - help_position, 11)

    def action(indent: int, invocation: str, text: str) -> str:
        action_width = help_position - indent - 2
        if not text:
            return f"{' ' * indent}{invocation}\n"
        lines = wrap(text, help_width)
        if len(invocation) <= action_width:
            head = f"{' ' * indent}{invocation.ljust(action_width)}  {lines[0]}\n"
        else:
            head = f"{' ' * indent}{invocation}\n{' ' * help_position}{lines[0]}\n"
        return head + "".join(f"{' ' * help_position}{line}\n" for line in lines[1:])

    text = (f"usage: {usage}\n\n" + "\n".join(wrap(description, width)) + "\n\n"
            + "\npositional arguments:\n" + "".join(action(*item) for item in items) + "\n"
            + "\noptions:\n" + "".join(action(*item) for item in listed) + "\n")
    while "\n\n\n" in text:
        text = text.replace("\n\n\n", "\n\n")
    return text.strip("\n") + "\n"
