"""What a plugin declares: components, their kinds, and the parameters the host supplies."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from flexzoo.plugin.kinds import COMPONENT_KINDS

if TYPE_CHECKING:
    from flexzoo.plugin.tasks import HeadTask

__all__ = ["HOST_PARAMETERS", "KINDS", "REGISTRATION_HOOKS", "Component", "RegisteredComponent", "host_arguments",
           "kind_from_word"]

#: Component kinds, singular, in lifecycle order (each declared once, in :mod:`flexzoo.plugin.kinds`).
KINDS: tuple[str, ...] = tuple(kind.name for kind in COMPONENT_KINDS)

#: The registration hook of each kind.
REGISTRATION_HOOKS: dict[str, str] = {kind.name: kind.hook for kind in COMPONENT_KINDS}

#: Factory parameters the host fills in itself (in this order); a manifest may not set them.
#: :func:`host_arguments` fills them; validation and ``zoo info`` read the same table.
HOST_PARAMETERS: dict[str, dict[str, str]] = {
    kind.name: dict(kind.host_parameters) for kind in COMPONENT_KINDS if kind.host_parameters}

_PLURALS = {kind.plural: kind.name for kind in COMPONENT_KINDS}


def host_arguments(kind: str, declared: Collection[str], supply: Mapping[str, Callable[[], Any]]) -> dict[str, Any]:
    """The values the host fills in for a factory of ``kind`` that declares the parameters ``declared``.

    Each parameter of ``HOST_PARAMETERS[kind]`` that the factory declares is made, in the table's order,
    by its entry in ``supply`` (a call site supplies what it has: a head's ``in_features``, a fusion's
    ``branches``); a name the table does not list is never filled, so validation and filling agree.
    """
    return {name: supply[name]() for name in HOST_PARAMETERS.get(kind, {}) if name in declared and name in supply}


def kind_from_word(word: str) -> str | None:
    """Map 'backbones', 'Backbone' or 'heads' to a kind, or None when it names no kind."""
    word = word.lower()
    return word if word in KINDS else _PLURALS.get(word)


@dataclass(frozen=True)
class Component:
    """A named factory a plugin offers; the factory's signature is the component's schema.

    :param name: the name a manifest uses (``use = "name"`` or ``"plugin:name"``).
    :param factory: a callable taking the component's parameters as keyword arguments. Its
        module must be cheap to import (import torch inside the function), because ``zoo info``
        reads its signature without building anything. ``functools.partial`` is accepted.
    :param summary: one line for ``zoo list``; defaults to the first line of the factory's doc.
    :param makes: compressors only: what the step makes of a model (for example ``"int8"``,
        ``"pruned"``), checked against later steps' ``refuses_after``.
    :param refuses_after: compressors only: a ``makes`` word of an earlier step -> why this step
        cannot follow it; validation refuses that order with the reason.
    :param export_formats: compressors only: the ``[export] formats`` a model compressed by this
        step can still be exported to; None means all of them.
    :param tasks: heads only: what the head is trained for (:class:`~flexzoo.plugin.HeadTask`), the first
        by default; ``[train.heads.<name>] loss`` picks one. A head that declares none takes the builtin
        classification, regression and detection tasks (``cross_entropy`` by default).
    """

    name: str
    factory: Callable[..., Any]
    summary: str = field(default="")
    makes: tuple[str, ...] = ()
    refuses_after: Mapping[str, str] = field(default_factory=dict, compare=False)
    export_formats: tuple[str, ...] | None = None
    tasks: tuple[HeadTask, ...] = ()

    def __post_init__(self) -> None:
        if not self.summary:
            doc = inspect.getdoc(self.factory) or ""
            object.__setattr__(self, "summary", doc.strip().splitlines()[0] if doc.strip() else "")


@dataclass(frozen=True)
class RegisteredComponent:
    """A component as the host knows it: with its kind and the plugin that offers it."""

    kind: str
    plugin: str
    component: Component

    @property
    def name(self) -> str:
        return self.component.name

    @property
    def qualified_name(self) -> str:
        return f"{self.plugin}:{self.component.name}"
