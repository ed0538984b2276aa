"""The registry: every component of every loaded plugin, and name resolution with suggestions."""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

import pluggy

from flexzoo.errors import FlexzooError
from flexzoo.host.discovery import Plugin, discover, new_plugin_manager, register_plugin
from flexzoo.plugin.components import KINDS, RegisteredComponent


class UnknownComponent(FlexzooError):
    """A name that resolves to no component (or to several)."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


def closest(word: str, candidates: Iterable[str], n: int = 3) -> list[str]:
    """The candidates closest to ``word``, best first (difflib, as argparse and git do)."""
    import difflib  # only a miss pays for it

    candidates = list(candidates)
    lowered = {c.lower(): c for c in candidates}
    return [lowered[m] for m in difflib.get_close_matches(word.lower(), list(lowered), n=n, cutoff=0.6)]


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """'did you mean `a` or `b`?' or '' when nothing is close."""
    matches = closest(word, candidates)
    if not matches:
        return ""
    return "did you mean " + " or ".join(f"`{m}`" for m in matches) + "?"


class Registry:
    """Components by kind and name, built from loaded plugins."""

    def __init__(self, plugins: list[Plugin], manager: pluggy.PluginManager, scan_seconds: float = 0.0) -> None:
        self.plugins = plugins
        self.manager = manager
        self.scan_seconds = scan_seconds  # time spent finding entry points (0 for explicit plugins)
        self._by_kind: dict[str, dict[str, list[RegisteredComponent]]] = {kind: {} for kind in KINDS}
        for plugin in plugins:
            if plugin.status != "loaded":
                continue
            for kind, components in plugin.components.items():
                for component in components:
                    entry = RegisteredComponent(kind=kind, plugin=plugin.name, component=component)
                    self._by_kind[kind].setdefault(component.name, []).append(entry)

    @classmethod
    def from_modules(cls, modules: Mapping[str, Any]) -> Registry:
        """A registry of explicit plugin objects, bypassing entry points (for tests and embedding)."""
        manager = new_plugin_manager()
        plugins = []
        for name, obj in modules.items():
            plugin = Plugin(name=name, source=getattr(obj, "__name__", repr(obj)))
            register_plugin(manager, plugin, obj)
            plugins.append(plugin)
        return cls(plugins, manager)

    def plugin(self, name: str) -> Plugin | None:
        """The plugin called ``name``, loaded or not."""
        return next((p for p in self.plugins if p.name == name), None)

    def names(self, kind: str) -> set[str]:
        """Every name a ``kind`` component may be given by: each one's ``name`` and ``plugin:name``."""
        return {name for entries in self._by_kind[kind].values() for e in entries
                for name in (e.name, e.qualified_name)}

    def failed(self) -> list[Plugin]:
        """The installed plugins that failed to load."""
        return [p for p in self.plugins if p.status == "failed"]

    def failures(self) -> str:
        """Each failed plugin with its distribution and load error, and where to read more ('' when none failed).

        Said wherever a name is not found: the component may be in a plugin that is installed and broken.
        """
        failed = self.failed()
        if not failed:
            return ""
        named = "; ".join(f"plugin `{p.name}` (distribution {p.distribution or '?'} {p.version or ''}".rstrip()
                          + f") is installed but failed to load: {' '.join(p.error.split())}" for p in failed)
        return f"{named}; run `zoo plugins` for details"

    def components(self, kind: str | None = None, pattern: str | None = None) -> list[RegisteredComponent]:
        """Components, sorted by kind then qualified name; ``pattern`` is a shell wildcard."""
        kinds = [kind] if kind else list(KINDS)
        found = [entry for k in kinds for entries in self._by_kind[k].values() for entry in entries]
        if pattern:
            found = [
                e for e in found if fnmatch.fnmatchcase(e.name, pattern) or fnmatch.fnmatchcase(
                    e.qualified_name, pattern)
            ]
        return sorted(found, key=lambda e: (KINDS.index(e.kind), e.name, e.plugin))

    def resolve(self, kind: str, reference: str) -> RegisteredComponent:
        """Find the ``kind`` component named ``reference`` (``name`` or ``plugin:name``)."""
        plugin_name, _, name = reference.rpartition(":")
        entries = self._by_kind[kind].get(name, [])
        if plugin_name:
            plugin = self.plugin(plugin_name)
            if plugin is None or plugin.status != "loaded":
                from flexzoo.host.catalogue import install_hint  # the catalogue is read only to explain a miss

                loaded = sorted(p.name for p in self.plugins if p.status == "loaded")
                why = f" ({plugin.status}: {plugin.error})" if plugin else ""
                hint = ((plugin and plugin.status == "failed" and self.failures())
                        or (not plugin and install_hint(kind, name, plugin_name)) or did_you_mean(plugin_name, loaded)
                        or f"loaded plugins: {', '.join(loaded)}")
                raise UnknownComponent(f"no plugin named `{plugin_name}` is available{why}", hint)
            entries = [e for e in entries if e.plugin == plugin_name]
        if len(entries) == 1:
            return entries[0]
        if len(entries) > 1:
            names = " and ".join(f"`{e.qualified_name}`" for e in entries)
            raise UnknownComponent(
                f"`{name}` is ambiguous: {names} both offer a {kind} of that name",
                f"write the qualified name, for example use = \"{entries[0].qualified_name}\"",
            )
        raise self._unknown(kind, reference, name, plugin_name)

    def _unknown(self, kind: str, reference: str, name: str, plugin_name: str) -> UnknownComponent:
        other_kinds = [k for k in KINDS if k != kind and name in self._by_kind[k]]
        if other_kinds:
            return UnknownComponent(
                f"`{reference}` is a {other_kinds[0]}, not a {kind}",
                f"choose a {kind}: `zoo list {kind}s` shows them",
            )
        pool = [e for entries in self._by_kind[kind].values() for e in entries]
        if plugin_name:
            pool = [e for e in pool if e.plugin == plugin_name]
        candidates = {e.name for e in pool} | {e.qualified_name for e in pool}
        where = f" in plugin `{plugin_name}`" if plugin_name else ""
        from flexzoo.host.catalogue import install_hint

        present = {p.name: "" if p.status == "loaded" else f"{p.status}: {p.error}" for p in self.plugins}
        catalogued = "" if plugin_name else install_hint(kind, name, present=present)
        hint = (catalogued or did_you_mean(reference, candidates)
                or f"`zoo list {kind}s` shows the {kind}s installed")
        return UnknownComponent(f"unknown {kind} `{reference}`{where}", _with_failures(hint, self.failures()))


def _with_failures(hint: str, failures: str) -> str:
    """The hint, led by the plugins that failed to load (the name asked for may be theirs)."""
    return f"{failures}; otherwise: {hint}" if failures and hint else failures or hint


def blocked_from_env() -> set[str]:
    """Plugin names blocked by ``FLEXZOO_BLOCK_PLUGINS`` (comma-separated)."""
    return {n.strip() for n in os.environ.get("FLEXZOO_BLOCK_PLUGINS", "").split(",") if n.strip()}


@lru_cache(maxsize=1)
def _default_registry(blocked: frozenset[str]) -> Registry:
    manager = new_plugin_manager()
    found = discover(manager, blocked=blocked)
    return Registry(found.plugins, manager, found.scan_seconds)


def default_registry() -> Registry:
    """The registry of installed plugins, discovered once per process.

    Plugins named in ``FLEXZOO_BLOCK_PLUGINS`` (which ``zoo -p no:NAME`` sets) are not loaded.
    """
    return _default_registry(frozenset(blocked_from_env()))


def built_default_registry() -> Registry | None:
    """The default registry if this process has built it already, else None (builds nothing)."""
    if not _default_registry.cache_info().currsize:
        return None
    return default_registry()
