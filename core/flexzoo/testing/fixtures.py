"""Shared pytest fixtures for tests written against flexzoo; load them from a ``conftest.py``::

    pytest_plugins = ["flexzoo.testing.fixtures"]

- ``registry``: the builtin plugin alone (a module overrides it: ``registry = registry_fixture(my_plugin)``);
- ``manifest_file``: writes a manifest (TOML text, dedented, or a :class:`~flexzoo.testing.Manifest`) into
  the test's ``tmp_path`` and returns its path;
- ``digits_manifest``: :meth:`Manifest.digits() <flexzoo.testing.Manifest.digits>`, to change per test.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from flexzoo.testing.manifests import Manifest
from flexzoo.testing.registries import registry_of

if TYPE_CHECKING:
    from flexzoo.host.registry import Registry


@pytest.fixture
def registry() -> Registry:
    """The builtin plugin alone, independent of what else is installed."""
    return registry_of()


@pytest.fixture
def manifest_file(tmp_path: Path) -> Callable[..., Path]:
    """``write(text_or_manifest, name="model.toml")``: the manifest written into ``tmp_path``; its path."""

    def write(manifest: str | Manifest, name: str = "model.toml") -> Path:
        if isinstance(manifest, Manifest):
            return manifest.write(tmp_path / name)
        path = tmp_path / name
        path.write_text(textwrap.dedent(manifest).lstrip(), encoding="utf-8")
        return path

    return write


@pytest.fixture
def digits_manifest() -> Manifest:
    """The small digits CNN (``Manifest.digits()``): one ``digit`` head, no ``[train]``."""
    return Manifest.digits()
