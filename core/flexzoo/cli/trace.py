"""``zoo --trace-plugins``: how long discovery and each plugin's import and registration took."""

from __future__ import annotations

import sys

from flexzoo.cli.render import table
from flexzoo.host.registry import built_default_registry


def report_plugin_trace() -> None:
    """Print the trace of this process's plugin discovery to stderr (nothing when none ran)."""
    registry = built_default_registry()
    if registry is None:
        print("zoo: plugin trace: this command loaded no plugins", file=sys.stderr)
        return
    rows = []
    for p in registry.plugins:
        count = sum(len(c) for c in p.components.values())
        rows.append([p.name, p.distribution or "-", p.version or "-", "-" if p.api is None else p.api, p.status,
                     f"{p.import_seconds * 1000:.2f}", f"{p.register_seconds * 1000:.2f}", count])
    total = registry.scan_seconds + sum(p.import_seconds + p.register_seconds for p in registry.plugins)
    print(f"zoo: plugin trace: entry points found in {registry.scan_seconds * 1000:.2f} ms; "
          f"discovery took {total * 1000:.2f} ms in all", file=sys.stderr)
    print(table(["PLUGIN", "DISTRIBUTION", "VERSION", "API", "STATUS", "IMPORT ms", "REGISTER ms", "COMPONENTS"],
                rows), file=sys.stderr)
