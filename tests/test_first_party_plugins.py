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


@pytest.mark.parametrize("package", PACKAGES, ids=[p.name for p in PACKAGES])
def test_plugin_package_has_the_scaffold_layout(package):
    """One layout for every first-party plugin, the one ``zoo new-plugin`` writes: the module beside pyproject.toml."""
    module = package.name.replace("-", "_")
    assert (package / module / "__init__.py").is_file() and not (package / "src").exists(), \
        f"{package.name}: expected {module}/ beside pyproject.toml (the scaffold's layout), no src/"


#: What a plugin may import from flexzoo (docs/plugins.md, "The plugin API").
DECLARED_SURFACE = ("flexzoo.plugin", "flexzoo.testing")
BUILTIN = ROOT / "core" / "flexzoo" / "builtin"


def imports_outside_the_surface(source: Path, own_package: str) -> list[str]:
    """``file:line module`` for each import of a flexzoo module that the declared surface does not hold."""
    import ast

    found = []
    for path in sorted(source.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names = [node.module] if node.module != "flexzoo" else [f"flexzoo.{a.name}" for a in node.names]
            else:
                continue
            for name in names:
                ours = name == "flexzoo" or name.startswith("flexzoo.")
                allowed = name.startswith(DECLARED_SURFACE) or name.startswith(own_package)
                if ours and not allowed:
                    found.append(f"{path.relative_to(source)}:{node.lineno} {name}")
    return found


def _sources(package: Path) -> tuple[Path, str]:
    module = next(p for p in package.glob("flexzoo_plugin_*") if p.is_dir())
    return module, module.name


@pytest.mark.parametrize("package", PACKAGES, ids=[p.name for p in PACKAGES])
def test_plugin_imports_only_the_declared_plugin_api(package):
    source, own = _sources(package)
    assert imports_outside_the_surface(source, own) == [], \
        f"{package.name} imports flexzoo internals; import from flexzoo.plugin (or flexzoo.testing) instead"


def test_the_builtin_plugin_imports_only_the_declared_plugin_api():
    assert imports_outside_the_surface(BUILTIN, "flexzoo.builtin") == []


def test_the_surface_check_catches_an_inner_import(tmp_path):
    package = tmp_path / "flexzoo_plugin_acme"
    package.mkdir()
    (package / "__init__.py").write_text("from flexzoo.plugin import Component\nimport flexzoo.manifest\n"
                                         "from flexzoo import restoring\n\n"
                                         "def f():\n    from flexzoo.training.fine_tune import fine_tune\n")
    assert imports_outside_the_surface(package, "flexzoo_plugin_acme") == [
        "__init__.py:2 flexzoo.manifest", "__init__.py:3 flexzoo.restoring", "__init__.py:6 flexzoo.training.fine_tune"]
