"""Every first-party plugin is a package of its own that runs flexzoo's conformance kit."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = sorted(p.parent for p in (ROOT / "plugins").glob("*/pyproject.toml"))


@pytest.mark.parametrize("package", PACKAGES, ids=[p.name for p in PACKAGES])
def test_plugin_package_runs_the_conformance_kit(package):
    tests = [path.read_text() for path in (package / "tests").glob("test_*.py")]
    assert any("PluginConformance" in text or "flexzoo.testing" in text for text in tests), \
        f"{package.name}: no test uses flexzoo.testing (subclass flexzoo.testing.PluginConformance)"


@pytest.mark.parametrize("package", PACKAGES, ids=[p.name for p in PACKAGES])
def test_plugin_package_has_its_own_readme_and_version(package):
    project = tomllib.loads((package / "pyproject.toml").read_text())["project"]
    assert project["name"] == package.name and (package / "README.md").is_file()
    assert "version" in project or "version" in project.get("dynamic", [])
