"""Plain-text tables and JSON for the CLI (no rich: listing must stay cheap to start)."""

from __future__ import annotations

import json
import sys

from flexzoo.reporting.tables import table

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (`zoo list` prints with this)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["add_quiet_option", "emit_json", "table"]


def add_quiet_option(parser: Any, unit: str) -> None:
    """``-q/--quiet``: no progress bars, one plain line per ``unit`` (what a pipe or a file gets anyway)."""
    parser.add_argument("-q", "--quiet", action="store_true", help=f"no progress bars: one plain line per {unit}")


def emit_json(value: Any) -> None:
    json.dump(value, sys.stdout, indent=2, sort_keys=False, default=str)
    sys.stdout.write("\n")
