"""The hook specifications are the plugin author's reference: each is documented and typed."""

from __future__ import annotations

import inspect

import pytest

from flexzoo.plugin import hookspecs
from flexzoo.plugin.components import REGISTRATION_HOOKS

SPECS = [f for name, f in vars(hookspecs).items() if name.startswith("flexzoo_")]


def test_every_kind_has_its_registration_hook():
    assert sorted(REGISTRATION_HOOKS.values()) == sorted(
        ["flexzoo_backbones", "flexzoo_heads", "flexzoo_initializers", "flexzoo_compressors", "flexzoo_strategies",
         "flexzoo_datasets", "flexzoo_trackers", "flexzoo_explainers"])
    assert all(hasattr(hookspecs, name) for name in REGISTRATION_HOOKS.values())


@pytest.mark.parametrize("spec", SPECS, ids=lambda f: f.__name__)
def test_each_hookspec_documents_its_parameters_and_return(spec):
    doc = inspect.getdoc(spec)
    assert doc and ":return:" in doc
    for name in inspect.signature(spec).parameters:
        assert f":param {name}:" in doc
    assert "return" in spec.__annotations__


def test_importing_the_hookspecs_is_cheap():
    import subprocess
    import sys

    code = "import sys, flexzoo.plugin.hookspecs; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"
