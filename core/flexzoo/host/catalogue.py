"""The catalogue of known plugins (``zoo_index.json``): searching it and naming the package to install.

The file lives at the repository's top level and ships inside the ``flexzoo`` package; the
environment variable ``FLEXZOO_INDEX`` points the host at another copy. Reading it needs only json.
"""

from __future__ import annotations

import fnmatch
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from flexzoo.errors import FlexzooError

INDEX_ENV = "FLEXZOO_INDEX"
PACKAGED_INDEX = Path(__file__).parents[1] / "zoo_index.json"  # flexzoo/zoo_index.json, shipped as package data
INDEX_FORMAT = 1


@dataclass(frozen=True)
class CatalogueEntry:
    """One known plugin: what it is called, where it comes from, and what it offers."""

    name: str
    distribution: str
    version: str
    summary: str
    homepage: str
    first_party: bool
    plugin_api: tuple[int, ...]
    flexzoo: str
    components: dict[str, list[str]]
    patterns: dict[str, list[str]]
    models: tuple[str, ...] = ()  # flexzoo models published with it, as `hf-hub:ORG/NAME` references

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CatalogueEntry:
        return cls(name=data["name"], distribution=data["distribution"], version=data["version"],
                   summary=data.get("summary", ""), homepage=data.get("homepage", ""),
                   first_party=data.get("first_party", False), plugin_api=tuple(data.get("plugin_api", [])),
                   flexzoo=data.get("flexzoo", ""), components=data.get("components", {}),
                   patterns=data.get("patterns", {}), models=tuple(data.get("models", ())))

    def offers(self, kind: str, name: str) -> str:
        """The name or pattern under which this plugin offers the ``kind`` called ``name``, or ''."""
        if name in self.components.get(kind, ()):
            return name
        return next((p for p in self.patterns.get(kind, ()) if fnmatch.fnmatchcase(name, p)), "")

    def matches(self, term: str) -> list[str]:
        """What about this entry matches a search term (case-insensitive; wildcards allowed)."""
        term = term.lower()
        glob = term if any(c in term for c in "*?[") else f"*{term}*"
        found = [field for field, text in (("name", self.name), ("distribution", self.distribution),
                                           ("summary", self.summary)) if fnmatch.fnmatchcase(text.lower(), glob)]
        for kind, names in self.components.items():
            found += [f"{kind} {n}" for n in names if fnmatch.fnmatchcase(n.lower(), glob)]
        for kind, patterns in self.patterns.items():
            found += [f"{kind} {p}" for p in patterns
                      if fnmatch.fnmatchcase(term, p.lower()) or fnmatch.fnmatchcase(p.lower(), glob)]
        found += [f"model {m}" for m in self.models if fnmatch.fnmatchcase(m.lower(), glob)]
        return found


def index_path() -> Path:
    """Where the catalogue is read from: ``$FLEXZOO_INDEX`` or the copy shipped with flexzoo."""
    return Path(os.environ.get(INDEX_ENV) or PACKAGED_INDEX)


@cache
def _read(path: Path) -> tuple[CatalogueEntry, ...]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return tuple(CatalogueEntry.from_json(entry) for entry in data["plugins"])
    except FileNotFoundError:
        raise FlexzooError(f"no plugin catalogue at {path}; set {INDEX_ENV} to a zoo_index.json") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise FlexzooError(f"{path}: not a valid plugin catalogue ({type(exc).__name__}: {exc}); "
                           "`zoo index --check` in the flexzoo repository says what is wrong") from None


def catalogue() -> tuple[CatalogueEntry, ...]:
    """Every known plugin, sorted by name."""
    return _read(index_path())


def install_hint(kind: str, name: str, plugin: str = "", present: Mapping[str, str] | None = None) -> str:
    """What to do when the catalogue knows a plugin offering the ``kind`` ``name``: usually 'pip install X'.

    :param plugin: only this plugin (for a qualified name).
    :param present: plugins installed here, by name: '' for loaded (never suggested), else why not
        (a blocked plugin is named with its reason instead of being suggested for installation).
    """
    present = present or {}
    try:
        entries = catalogue()
    except FlexzooError:
        return ""  # a missing catalogue must not hide the error it was asked to explain
    offering = [(e, e.offers(kind, name)) for e in entries
                if (not plugin or e.name == plugin) and present.get(e.name) != ""]
    offering = [(e, how) for e, how in offering if how]
    if not offering:
        return ""
    entry, how = offering[0]
    what = f"`{entry.name}:{name}`" if how == name else f"{kind}s matching `{how}`"
    if entry.name in present:
        return f"the plugin `{entry.name}` offers {what} but is not loaded ({present[entry.name]})"
    return f"the plugin `{entry.name}` offers {what}: pip install {entry.distribution}"
