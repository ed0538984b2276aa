"""``PluginConformance``: the checks as a pytest test class a plugin subclasses."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from flexzoo.plugin.components import RegisteredComponent
from flexzoo.testing.checks import (
    HEAVY_MODULES,
    check_component,
    check_listing_is_light,
    check_schema,
    plugin_components,
)


class PluginConformance:
    """Subclass as ``Test<Name>`` and set ``plugin``; pytest then checks every declared component.

    :cvar plugin: the import name of the plugin module (the entry point's value).
    :cvar input_shape: one sample's shape for backbones.
    :cvar input_shapes: the shape for the components that take another, by name (a sequence
        backbone takes ``(steps, features)``: ``{"lstm": (8, 8)}``).
    :cvar examples: parameters per kind and component name, for required ones or a cheaper build:
        ``{"head": {"tiny": {"num_classes": 3}}}``.
    :cvar build: the component names whose build-and-run check runs (None: all of them; a plugin
        with hundreds of components picks a few; the schema check always covers all).
    :cvar heavy_modules: modules that listing the plugin must not import.
    :cvar locations: dataset sources only: the ``location`` each reads in the check, by name
        (``{"shards": "tests/data/shards"}``); make small data for it in your test module.
    """

    plugin: ClassVar[str] = ""
    input_shape: ClassVar[Sequence[int]] = (3, 16, 16)
    input_shapes: ClassVar[Mapping[str, Sequence[int]]] = {}
    examples: ClassVar[Mapping[str, Mapping[str, Mapping[str, Any]]]] = {}
    build: ClassVar[Sequence[str] | None] = None
    heavy_modules: ClassVar[Sequence[str]] = HEAVY_MODULES
    locations: ClassVar[Mapping[str, str]] = {}

    def _components(self) -> list[RegisteredComponent]:
        assert self.plugin, f"{type(self).__name__}: set plugin = '<import name of the plugin module>'"
        return plugin_components(self.plugin)

    def pytest_generate_tests(self, metafunc: Any) -> None:
        """Parametrize ``component`` over the components to build, named kind:name."""
        if "component" in metafunc.fixturenames:
            chosen = [c for c in self._components() if self.build is None or c.name in self.build]
            metafunc.parametrize("component", chosen, ids=[f"{c.kind}:{c.name}" for c in chosen])

    def test_every_signature_works_as_a_schema(self) -> None:
        failures = []
        for entry in self._components():
            try:
                check_schema(entry)
            except AssertionError as exc:
                failures.append(str(exc))
        assert not failures, "\n".join(failures)

    def test_component_builds_and_runs(self, component: RegisteredComponent) -> None:
        example = self.examples.get(component.kind, {}).get(component.name, {})
        location = self.locations.get(component.name, "") if component.kind == "dataset" else ""
        shape = self.input_shapes.get(component.name, self.input_shape)
        check_component(component, shape, example, location)

    def test_listing_imports_nothing_heavy(self) -> None:
        check_listing_is_light(self.plugin, self.heavy_modules)
