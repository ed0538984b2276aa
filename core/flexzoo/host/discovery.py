"""Finding plugins through the ``flexzoo`` entry-point group and loading them one by one.

pluggy's ``load_setuptools_entrypoints`` stops at the first plugin that raises and keeps only
one of two plugins with the same name, so the loop is ours: every plugin is loaded in isolation,
and one that fails is recorded with its distribution, version and reason, then skipped.

A distribution declares the plugin API it was written for with the keyword
``flexzoo-plugin-api-<N>`` in its metadata (``keywords`` in pyproject.toml); a plugin whose
declared API this host does not support is refused before any of its code is imported. The module
attribute ``FLEXZOO_PLUGIN_API`` is checked after import, for plugins without that keyword.
"""

from __future__ import annotations

import os
import re
import time
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pluggy

from flexzoo._version import DEPRECATED_PLUGIN_APIS, PLUGIN_API_VERSION, SUPPORTED_PLUGIN_APIS
from flexzoo.host.entry_point_cache import API_KEYWORD_PREFIX, EntryPointRecord
from flexzoo.host.entry_point_cache import entry_points as cached_entry_points
from flexzoo.plugin import hookspecs
from flexzoo.plugin.components import KINDS, REGISTRATION_HOOKS, Component
from flexzoo.plugin.tasks import DIRECTIONS, HeadTask

ENTRY_POINT_GROUP = "flexzoo"
#: Set to any non-empty value to load no plugin but ``builtin`` and those in FLEXZOO_PLUGINS
#: (as PYTEST_DISABLE_PLUGIN_AUTOLOAD with PYTEST_PLUGINS).
DISABLE_AUTOLOAD_ENV = "FLEXZOO_DISABLE_PLUGIN_AUTOLOAD"
#: Comma-separated plugin names: only these (and ``builtin``) are loaded.
ONLY_PLUGINS_ENV = "FLEXZOO_PLUGINS"
BUILTIN = "builtin"

_COMPONENT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")


@dataclass
class Plugin:
    """One plugin as discovery saw it; ``error`` is empty when it loaded and declared its parts."""

    name: str
    distribution: str | None = None
    version: str | None = None
    source: str = ""
    status: str = "loaded"  # loaded | failed | blocked
    error: str = ""
    api: int | None = None  # the plugin API its metadata declares, when it declares one
    import_seconds: float = 0.0
    register_seconds: float = 0.0
    module: Any = None
    components: dict[str, list[Component]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-friendly summary, as ``zoo plugins --json`` prints it."""
        return {
            "name": self.name,
            "distribution": self.distribution,
            "version": self.version,
            "source": self.source,
            "status": self.status,
            "error": self.error,
            "api": self.api,
            "deprecated_api": self.api in DEPRECATED_PLUGIN_APIS,
            "import_seconds": round(self.import_seconds, 6),
            "register_seconds": round(self.register_seconds, 6),
            "components": {kind: [c.name for c in comps] for kind, comps in self.components.items()},
        }


@dataclass
class Discovery:
    """What one discovery pass found, and how long scanning the installed distributions took."""

    plugins: list[Plugin]
    scan_seconds: float


class PluginRejected(Exception):
    """Raised inside discovery when a plugin breaks the contract; becomes Plugin.error."""


def new_plugin_manager() -> pluggy.PluginManager:
    """A pluggy manager that knows flexzoo's hook specifications."""
    manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    manager.add_hookspecs(hookspecs)
    return manager


def unsupported_api(declared: object) -> str:
    """Why a plugin written for API ``declared`` cannot load here, or '' when it can."""
    if declared in SUPPORTED_PLUGIN_APIS:
        return ""
    supported = " and ".join(map(str, SUPPORTED_PLUGIN_APIS))
    return f"written for plugin API {declared!r}; this flexzoo supports API {supported}"


def _allowed(name: str, blocked: set[str]) -> str:
    """Return '' when the plugin may load, or why it is blocked."""
    if name in blocked:
        return f"blocked by -p no:{name}"
    only = os.environ.get(ONLY_PLUGINS_ENV)
    listed = None if only is None else {n.strip() for n in only.split(",")}
    if name == BUILTIN or (listed is not None and name in listed):
        return ""  # as PYTEST_PLUGINS, a listed plugin loads even with autoload disabled
    if os.environ.get(DISABLE_AUTOLOAD_ENV):
        return f"autoload disabled by {DISABLE_AUTOLOAD_ENV}"
    if listed is not None:
        return f"not listed in {ONLY_PLUGINS_ENV}"
    return ""


def _declared_components(manager: pluggy.PluginManager, plugin: Plugin) -> dict[str, list[Component]]:
    """Call the plugin's own registration hooks and check what they return."""
    declared: dict[str, list[Component]] = {}
    for kind in KINDS:
        hook = getattr(manager.hook, REGISTRATION_HOOKS[kind])
        for impl in hook.get_hookimpls():
            if impl.plugin_name != plugin.name:
                continue
            result = impl.function()
            if result is None or isinstance(result, (str, bytes, Mapping)) or not isinstance(
                result, Iterable
            ):
                raise PluginRejected(
                    f"{REGISTRATION_HOOKS[kind]}() returned {type(result).__name__}, "
                    "expected a list of flexzoo.Component"
                )
            components = list(result)
            seen: set[str] = set()
            for item in components:
                if not isinstance(item, Component):
                    raise PluginRejected(
                        f"{REGISTRATION_HOOKS[kind]}() returned a {type(item).__name__} "
                        f"({item!r:.60}), expected flexzoo.Component"
                    )
                if not _COMPONENT_NAME.match(item.name):
                    raise PluginRejected(f"{kind} name {item.name!r} is not a plain name")
                if item.name in seen:
                    raise PluginRejected(f"{kind} {item.name!r} is declared twice")
                if not callable(item.factory):
                    raise PluginRejected(f"{kind} {item.name!r} has a factory that is not callable")
                problem = _tasks_problem(kind, item)
                if problem:
                    raise PluginRejected(f"{kind} {item.name!r} {problem}")
                seen.add(item.name)
            declared[kind] = components
    return declared


def _tasks_problem(kind: str, component: Component) -> str:
    """Why a component's ``tasks`` cannot be used, or "": heads only, each a HeadTask whose names fit together."""
    tasks = component.tasks
    if not tasks:
        return ""
    if kind != "head":
        return "declares tasks, which only heads have"
    if isinstance(tasks, (str, HeadTask)) or not all(isinstance(task, HeadTask) for task in tasks):
        return "declares tasks that are not a tuple of flexzoo.plugin.HeadTask"
    for task in tasks:
        where = f"declares task {task.name!r}"
        if not task.losses or isinstance(task.losses, str) or not all(isinstance(loss, str) for loss in task.losses):
            return f"{where} with no losses (a tuple of names, the first the default)"
        wrong = {metric: way for metric, way in task.metrics.items() if way not in DIRECTIONS}
        if wrong:
            return f"{where} whose metrics {wrong} do not say \"max\" or \"min\""
        unknown = [metric for metric in task.defaults if metric not in task.metrics]
        if unknown:
            return f"{where} whose default_metrics {unknown} are not among its metrics"
        if not (callable(task.score) and callable(task.decode)):
            return f"{where} whose score or decode is not callable"
    return ""


def _check_hook_names(manager: pluggy.PluginManager, obj: Any) -> None:
    """Refuse implementations of hooks that do not exist (a misspelt hook would silently do nothing)."""
    for caller in manager.get_hookcallers(obj) or []:
        if not caller.has_spec():
            import difflib  # only a misspelt hook pays for it

            known = [name for name in vars(hookspecs) if name.startswith("flexzoo_")]
            near = difflib.get_close_matches(caller.name, known, n=1)
            hint = f"; did you mean {near[0]}?" if near else ""
            raise PluginRejected(f"implements unknown hook {caller.name}(){hint}")


def register_plugin(manager: pluggy.PluginManager, plugin: Plugin, obj: Any) -> None:
    """Register ``obj`` as ``plugin`` after checking its API version; on failure leave it out."""
    try:
        declared = getattr(obj, "FLEXZOO_PLUGIN_API", plugin.api or PLUGIN_API_VERSION)
        refusal = unsupported_api(declared)
        if refusal:
            raise PluginRejected(refusal)
        if isinstance(getattr(obj, "FLEXZOO_PLUGIN_API", None), int):  # the module's own word, shown by zoo plugins
            plugin.api = obj.FLEXZOO_PLUGIN_API
        if declared in DEPRECATED_PLUGIN_APIS:
            warnings.warn(f"flexzoo plugin {plugin.name!r}: {DEPRECATED_PLUGIN_APIS[declared]}", DeprecationWarning,
                          stacklevel=2)
        if manager.has_plugin(plugin.name):
            raise PluginRejected(f"another plugin is already registered as {plugin.name!r}")
        manager.register(obj, name=plugin.name)
        try:
            _check_hook_names(manager, obj)
            plugin.components = _declared_components(manager, plugin)
        except BaseException:
            manager.unregister(name=plugin.name)
            raise
        plugin.module = obj
    except PluginRejected as exc:
        plugin.status, plugin.error = "failed", str(exc)
    except pluggy.PluginValidationError as exc:
        plugin.status, plugin.error = "failed", f"invalid hook implementation: {exc}"
    except Exception as exc:
        plugin.status, plugin.error = "failed", f"{type(exc).__name__}: {exc}"


def discover(manager: pluggy.PluginManager, blocked: Iterable[str] = ()) -> Discovery:
    """Load every plugin of the ``flexzoo`` entry-point group into ``manager``; report each."""
    blocked = set(blocked)
    started = time.perf_counter()
    entry_points = cached_entry_points(ENTRY_POINT_GROUP)
    discovery = Discovery(plugins=[], scan_seconds=time.perf_counter() - started)
    taken: dict[str, str] = {}
    for ep in entry_points:
        plugin = Plugin(name=ep.name, distribution=ep.distribution, version=ep.version, source=ep.value)
        discovery.plugins.append(plugin)
        if ep.name in taken:
            plugin.status = "failed"
            plugin.error = (
                f"plugin name {ep.name!r} is already taken by distribution {taken[ep.name]}; "
                "uninstall one of the two"
            )
            continue
        taken[ep.name] = plugin.distribution or "?"
        reason = _allowed(ep.name, blocked)
        if reason:
            plugin.status, plugin.error = "blocked", reason
            continue
        _load(manager, plugin, ep)
    return discovery


def _load(manager: pluggy.PluginManager, plugin: Plugin, ep: EntryPointRecord) -> None:
    """Check the declared API from metadata, then import and register, timing both steps."""
    started = time.perf_counter()
    plugin.api = ep.api
    if plugin.api is not None and unsupported_api(plugin.api):
        plugin.status = "failed"
        keyword = f"{API_KEYWORD_PREFIX}{plugin.api}"
        plugin.error = f"{unsupported_api(plugin.api)} (metadata keyword {keyword}; not imported)"
        return
    try:
        obj = ep.load()
    except BaseException as exc:  # a plugin may even call sys.exit at import
        if isinstance(exc, KeyboardInterrupt):
            raise
        plugin.status, plugin.error = "failed", f"import failed: {type(exc).__name__}: {exc}"
        return
    finally:
        plugin.import_seconds = time.perf_counter() - started
    started = time.perf_counter()
    register_plugin(manager, plugin, obj)
    plugin.register_seconds = time.perf_counter() - started
