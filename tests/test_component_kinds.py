"""A component kind is declared once (``flexzoo.plugin.kinds``): everything the host needs of it is made from that
record or named by it, and each thing it names exists."""

from __future__ import annotations

import ast
import importlib
import inspect
import sys

import pytest

import flexzoo.plugin
from flexzoo.plugin import hookspecs, protocols
from flexzoo.plugin.components import HOST_PARAMETERS, KINDS, REGISTRATION_HOOKS, kind_from_word
from flexzoo.plugin.kinds import COMPONENT_KINDS, ComponentKind, kind_named, resolve
from flexzoo.scaffold import TEMPLATES, render
from flexzoo.scaffold.components import Template
from flexzoo.testing import check_component, check_schema, plugin_components


def _missing(kind: ComponentKind) -> list[str]:
    """What the declaration of ``kind`` names that does not exist, each said with where to add it."""
    missing = []
    spec = getattr(hookspecs, kind.hook, None)
    if spec is None or not hasattr(spec, "flexzoo_spec"):
        missing.append(f"hookspec {kind.hook} in flexzoo.plugin.hookspecs")
    if ":return:" not in kind.hook_doc:
        missing.append("a `:return:` line in hook_doc")
    protocol = getattr(protocols, kind.protocol, None)
    if not getattr(protocol, "_is_protocol", False):
        missing.append(f"Protocol {kind.protocol} in flexzoo.plugin.protocols")
    if kind.protocol not in flexzoo.plugin.__all__:
        missing.append(f"{kind.protocol} in flexzoo.plugin's imports and __all__")
    if not all(isinstance(text, str) and text for text in kind.host_parameters.values()):
        missing.append("a description for each of host_parameters")
    for field, wanted in (("check", "a kit check taking the entry first"), ("example", "a scaffold Template")):
        try:
            found = resolve(getattr(kind, field))
        except (ImportError, AttributeError):
            missing.append(f"{field} {getattr(kind, field)} ({wanted})")
            continue
        if field == "check" and next(iter(inspect.signature(found).parameters), None) != "entry":
            missing.append(f"check {kind.check} taking `entry` first")
        if field == "example" and not (isinstance(found, Template) and f"def {found.factory}(" in found.source
                                       and kind.protocol in found.imports):
            missing.append(f"example {kind.example}: a Template defining its factory and importing {kind.protocol}")
    return missing


@pytest.mark.parametrize("kind", COMPONENT_KINDS, ids=lambda kind: kind.name)
def test_every_declared_kind_has_hook_protocol_host_parameters_example_and_check(kind):
    assert not _missing(kind), f"component kind {kind.name!r} lacks: " + "; ".join(_missing(kind))


def test_the_host_tables_are_made_from_the_declarations():
    assert tuple(kind.name for kind in COMPONENT_KINDS) == KINDS
    assert {kind.name: f"flexzoo_{kind.plural}" for kind in COMPONENT_KINDS} == REGISTRATION_HOOKS
    assert {k.name: dict(k.host_parameters) for k in COMPONENT_KINDS if k.host_parameters} == HOST_PARAMETERS
    assert [kind_from_word(kind.plural) for kind in COMPONENT_KINDS] == list(KINDS)
    assert kind_from_word("Strategy") == "strategy" and kind_from_word("strategys") is None


def test_the_registration_hookspecs_carry_the_declared_documentation():
    for kind in COMPONENT_KINDS:
        spec = getattr(hookspecs, kind.hook)
        assert spec.__name__ == kind.hook and kind.hook in hookspecs.__all__
        assert inspect.getdoc(spec) == inspect.cleandoc(kind.hook_doc)
        assert not inspect.signature(spec).parameters


def test_kind_named_names_the_kinds_for_an_unknown_one():
    assert kind_named("head").plural == "heads"
    with pytest.raises(KeyError, match="kinds: backbone, head"):
        kind_named("heads")


def test_a_plugin_scaffolded_with_every_kind_declares_each_through_its_hook_and_passes_its_check(tmp_path, monkeypatch):
    for path, text in render("kindzoo", KINDS).items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text)
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        components = plugin_components(importlib.import_module("flexzoo_plugin_kindzoo"), "kindzoo")
        assert sorted(entry.kind for entry in components) == sorted(KINDS)
        for entry in components:
            check_schema(entry)
        for entry in components:  # the tracker's check trains twice (seconds): test_plugin_kinds runs trackers
            if entry.kind != "tracker":
                check_component(entry, (1, 8, 8), ast.literal_eval(TEMPLATES[entry.kind].required or "None"))
    finally:
        for name in [m for m in sys.modules if m.startswith("flexzoo_plugin_kindzoo")]:
            del sys.modules[name]
