"""An explainer by name (``integrated-gradients``, ``integrated_gradients``, ``plugin:name``), settings checked."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from flexzoo.errors import FlexzooError, ParameterError
from flexzoo.host.registry import did_you_mean
from flexzoo.manifest import schema

if TYPE_CHECKING:
    from flexzoo.host.registry import Registry
    from flexzoo.plugin.protocols import Explainer

__all__ = ["make_explainer"]


def make_explainer(method: str, settings: Mapping[str, Any], registry: Registry) -> tuple[str, Explainer]:
    """The explainer component ``method`` called with ``settings``; its name as listed, and the explainer.

    Unknown names and settings, and values of the wrong type, are one message each, naming the valid ones.
    """
    entry = registry.resolve("explainer", method.replace("-", "_"))
    specs = {spec.name: spec for spec in schema.parameters(entry.component.factory)}
    where = f"explainer {entry.name}"
    for name, value in settings.items():
        if name not in specs:
            raise FlexzooError(" ".join(filter(None, [
                f"{where} has no setting `{name}`; its settings: {', '.join(specs) or 'none'}",
                did_you_mean(name, specs)])))
        spec = specs[name]
        if not schema.matches(value, spec.annotation):
            raise FlexzooError(f"{where}: `{name}` must be {spec.type_text}, got {schema.describe(value)}")
        broken = schema.violations(value, spec.annotation, name)
        if broken:
            raise FlexzooError(f"{where}: {'; '.join(broken)}")
    kwargs = {name: schema.to_python(value, specs[name].annotation) for name, value in settings.items()}
    try:
        return entry.name, entry.component.factory(**kwargs)
    except ParameterError as exc:
        raise FlexzooError(f"{where}: {exc}" + (f"; {exc.hint}" if exc.hint else "")) from None
