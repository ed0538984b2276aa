"""A registry built from explicit plugins: what the host's discovery makes, without entry points.

stevedore's ``ExtensionManager.make_test_instance`` idea: a test names the plugins it runs with, so it does
not depend on what happens to be installed. ::

    import flexzoo_plugin_timm
    from flexzoo.testing import registry_of

    registry = registry_of(flexzoo_plugin_timm)          # builtin + timm, named as their entry points name them
    flexzoo.build(path, registry)

In a test module, ``registry = registry_fixture(flexzoo_plugin_timm)`` declares the ``registry`` fixture
(module-scoped) that the shared fixtures (``flexzoo.testing.fixtures``) and the module's tests use.
"""

from __future__ import annotations

from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flexzoo.host.registry import Registry

__all__ = ["plugin_name", "registry_fixture", "registry_of"]

_PREFIX = "flexzoo_plugin_"


def plugin_name(plugin: ModuleType) -> str:
    """The name a plugin module's entry point gives it: ``flexzoo_plugin_timm`` -> ``timm``,
    ``flexzoo.builtin`` -> ``builtin``, any other module its last dotted part."""
    top = plugin.__name__.split(".")[0]
    if top.startswith(_PREFIX):
        return top.removeprefix(_PREFIX)
    return plugin.__name__.rsplit(".", 1)[-1]


def registry_of(*plugins: ModuleType, builtin: bool = True, **named: Any) -> Registry:
    """A registry of these plugins, each loaded and checked as discovery loads an installed one.

    :param plugins: plugin modules (what an entry point of group ``flexzoo`` names), each named by
        :func:`plugin_name`.
    :param builtin: include the host's own ``builtin`` plugin, as discovery does (it is an entry point too).
    :param named: plugins given by name: objects holding hook implementations (an instance of a class with
        ``@flexzoo.hookimpl`` methods), or modules under a name of the test's choosing.
    :raises ValueError: when two plugins would have the same name.
    """
    from flexzoo.host.registry import Registry

    modules: dict[str, Any] = {}
    if builtin:
        import flexzoo.builtin

        modules["builtin"] = flexzoo.builtin
    for plugin in plugins:
        if not isinstance(plugin, ModuleType):
            raise TypeError(f"{plugin!r} is not a module: pass an object of hook implementations by name, "
                            "registry_of(name=obj)")
        name = plugin_name(plugin)
        if name in modules:
            raise ValueError(f"two plugins are named {name!r}: pass one by name, registry_of({name}_2=...)")
        modules[name] = plugin
    for name, plugin in named.items():
        if name in modules:
            raise ValueError(f"two plugins are named {name!r}")
        modules[name] = plugin
    return Registry.from_modules(modules)


def registry_fixture(*plugins: ModuleType, scope: str = "module", **named: Any) -> Any:
    """A pytest fixture giving :func:`registry_of` these plugins (builtin included); assign it to ``registry``.

    ::

        registry = registry_fixture(flexzoo_plugin_onnx)
    """
    import pytest

    @pytest.fixture(scope=scope, name="registry")
    def registry() -> Registry:
        """The builtin plugin and this module's plugins, independent of what else is installed."""
        return registry_of(*plugins, **named)

    return registry
