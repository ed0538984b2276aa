"""The ``flexzoo`` entry points of the installed distributions, cached between runs.

Reading every distribution's metadata costs about 40 µs each (and importing importlib.metadata
another 15-25 ms), so the scan's result is kept by :mod:`flexzoo.plugin.installed`, keyed on the
``sys.path`` entries and their modification times, as stevedore does: installing or removing a
distribution changes its directory's mtime and so the key. ``FLEXZOO_NO_CACHE=1`` turns the cache off;
``FLEXZOO_CACHE_DIR`` moves it (default ``$XDG_CACHE_HOME/flexzoo``, else ``~/.cache/flexzoo``).
"""

from __future__ import annotations

import importlib
import re
from dataclasses import asdict, dataclass
from typing import Any

from flexzoo.plugin import installed
from flexzoo.plugin.installed import NO_CACHE_ENV

__all__ = ["API_KEYWORD_PREFIX", "NO_CACHE_ENV", "EntryPointRecord", "declared_api", "entry_points", "scan"]

API_KEYWORD_PREFIX = "flexzoo-plugin-api-"


@dataclass(frozen=True)
class EntryPointRecord:
    """One entry point, with what discovery needs of its distribution."""

    name: str
    value: str
    distribution: str | None
    version: str | None
    api: int | None  # from the distribution's ``flexzoo-plugin-api-<N>`` keyword

    def load(self) -> Any:
        """Import the module (and attribute path) the entry point names."""
        target = re.sub(r"\s*\[.*\]\s*$", "", self.value)
        module_name, _, attributes = target.partition(":")
        obj = importlib.import_module(module_name.strip())
        for attribute in filter(None, attributes.strip().split(".")):
            obj = getattr(obj, attribute)
        return obj


def declared_api(keywords: str) -> int | None:
    """The plugin API declared by a ``flexzoo-plugin-api-<N>`` keyword, if any."""
    for word in re.split(r"[,\s]+", keywords or ""):
        if word.startswith(API_KEYWORD_PREFIX) and word[len(API_KEYWORD_PREFIX):].isdigit():
            return int(word[len(API_KEYWORD_PREFIX):])
    return None


def scan(group: str) -> list[EntryPointRecord]:
    """Read the installed distributions' metadata (no cache), sorted by name then distribution."""
    from importlib import metadata

    records = []
    for ep in metadata.entry_points(group=group):
        dist = ep.dist
        records.append(EntryPointRecord(
            name=ep.name, value=ep.value, distribution=dist.name if dist else None,
            version=dist.version if dist else None,
            api=declared_api(dist.metadata.get("Keywords") or "") if dist else None))
    # The file system's order is not an order: sort by plugin name, then distribution name.
    return sorted(records, key=lambda r: (r.name, r.distribution or ""))


def entry_points(group: str) -> list[EntryPointRecord]:
    """The group's entry points, from the cache when nothing on ``sys.path`` changed since."""
    records = installed.cached(f"entry-points:{group}", lambda: [asdict(r) for r in scan(group)])
    return [EntryPointRecord(**record) for record in records]
