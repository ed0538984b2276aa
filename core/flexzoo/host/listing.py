"""What ``zoo list`` shows, kept between runs: every plugin's components with their summaries, and each plugin's state.

Making the registry imports every plugin, the modules of their factories and what those import (the annotations'
library, pluggy, dataclasses): several times the cost of starting Python. The listing it gives is kept in flexzoo's
cache with what it was made from: the state of ``sys.path`` (the installed distributions, see
:mod:`flexzoo.plugin.installed`), the environment that selects plugins, and the modification time of every module
file that was imported to make it (the standard library's aside) and of every file in each plugin's package folder
(its data files, such as a shipped list of models) and of the lists of models read from flexzoo's cache. When any
of them differs, the listing is made again from the
registry. A listing in which a plugin failed to load is never kept: its error is always the current one.
``FLEXZOO_NO_CACHE=1`` turns the cache off.
"""

from __future__ import annotations

import os
import sys

from flexzoo.plugin import installed

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing
if TYPE_CHECKING:
    from typing import Any

    from flexzoo.host.registry import Registry

__all__ = ["SELECTING_ENV", "cached_listing", "listing_of", "save_listing"]

#: The environment variables that choose which plugins load.
SELECTING_ENV = ("FLEXZOO_PLUGINS", "FLEXZOO_DISABLE_PLUGIN_AUTOLOAD", "FLEXZOO_BLOCK_PLUGINS")
_FORMAT = 1


def _key() -> list[Any]:
    return [_FORMAT, installed.state(), [os.environ.get(name) for name in SELECTING_ENV]]


def cached_listing() -> dict[str, Any] | None:
    """The kept listing, when nothing it was made from has changed since; else None."""
    if os.environ.get(installed.NO_CACHE_ENV):
        return None
    key = _key()
    data = installed.read_json(installed.cache_file("listing", key))
    if not isinstance(data, dict) or data.get("key") != key:
        return None
    for path, modified in data["files"]:
        try:
            if os.stat(path).st_mtime_ns != modified:
                return None
        except OSError:
            return None
    return data


def listing_of(registry: Registry) -> dict[str, Any]:
    """What ``zoo list`` shows of ``registry``: the kinds (name, plural), each plugin's state, and every component as
    ``[kind, name, plugin, summary]`` in the registry's order."""
    from flexzoo.plugin.kinds import COMPONENT_KINDS

    return {"kinds": [[kind.name, kind.plural] for kind in COMPONENT_KINDS],
            "plugins": [{"name": p.name, "status": p.status} for p in registry.plugins],
            "components": [[c.kind, c.name, c.plugin, c.component.summary] for c in registry.components()]}


def save_listing(listing: dict[str, Any], registry: Registry) -> None:
    """Keep ``listing`` (made from ``registry`` in this process) with what it was made from."""
    if os.environ.get(installed.NO_CACHE_ENV) or any(p.status == "failed" for p in registry.plugins):
        return
    files = []
    for path in sorted(_sources(registry)):
        try:
            files.append([path, os.stat(path).st_mtime_ns])
        except OSError:
            return  # a module whose file is gone: nothing to check a kept listing against
    key = _key()
    installed.write_json(installed.cache_file("listing", key), {"key": key, "files": files, **listing})


def _sources(registry: Registry) -> set[str]:
    """Every file the listing was made from: the imported modules' (but the standard library's, which changes with
    the interpreter's version, part of the key), the shipped and cached lists of models read, and those in each
    loaded plugin's package folder."""
    import sysconfig

    paths = sysconfig.get_paths()
    standard = tuple(os.path.join(paths[name], "") for name in ("stdlib", "platstdlib"))
    found = set()
    for module in list(sys.modules.values()):
        path = getattr(module, "__file__", None)
        if isinstance(path, str) and not path.startswith(standard):
            found.add(path)
    shipped_list = sys.modules.get("flexzoo.plugin.shipped_list")  # the lists the plugins' listings came from
    found.update(getattr(shipped_list, "FILES_READ", ()))
    for plugin in registry.plugins:
        path = getattr(plugin.module, "__file__", None)
        if isinstance(path, str) and os.path.basename(path) == "__init__.py":
            with os.scandir(os.path.dirname(path)) as entries:
                found.update(entry.path for entry in entries if entry.is_file())
    return found
