"""Regenerating the first-party entries of ``zoo_index.json`` from the repository, and checking it.

A first-party entry is derived from its package alone: ``pyproject.toml`` gives the distribution,
version, summary, homepage, the flexzoo requirement and the declared plugin API (the keyword
``flexzoo-plugin-api-<N>``); the components come from loading the plugin's module and calling its
registration hooks, as the host does. Entries with ``"first_party": false`` are kept as written.
"""

from __future__ import annotations

import importlib
import json
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from flexzoo._version import PLUGIN_API_VERSION
from flexzoo.errors import FlexzooError
from flexzoo.host.catalogue import INDEX_FORMAT
from flexzoo.host.discovery import API_KEYWORD_PREFIX
from flexzoo.host.registry import Registry

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

INDEX_FILE = "zoo_index.json"
SCHEMA_FILE = "zoo_index.schema.json"
#: A plugin with more components of one kind than this is described by name patterns instead.
MAX_LISTED = 100
HOMEPAGE = "https://github.com/flexzoo/flexzoo"


@contextmanager
def _importable(directory: Path) -> Iterator[None]:
    sys.path.insert(0, str(directory))
    try:
        yield
    finally:
        sys.path.remove(str(directory))


def _version(project: dict[str, Any], pyproject: dict[str, Any], root: Path) -> str:
    if "version" in project:
        return project["version"]
    attr = pyproject.get("tool", {}).get("setuptools", {}).get("dynamic", {}).get("version", {}).get("attr", "")
    module, _, name = attr.rpartition(".")
    candidates = [root / Path(*module.split(".")).with_suffix(".py"), root / "core" / Path(*module.split("."))
                  .with_suffix(".py"), root / Path(*module.split(".")) / "__init__.py"]
    for path in candidates:
        if path.is_file():
            found = re.search(rf"^{name}\s*=\s*['\"]([^'\"]+)['\"]", path.read_text(), re.MULTILINE)
            if found:
                return found.group(1)
    raise FlexzooError(f"{root / 'pyproject.toml'}: cannot tell the version (give project.version)")


def _patterns(names: list[str]) -> list[str]:
    """Family patterns for a long list of names: 'resnet18', 'resnet50d' -> 'resnet*' (none inside another)."""
    families = sorted({(re.match(r"[A-Za-z]+", n) or re.match(r".", n)).group(0).lower() for n in names}, key=len)
    kept: list[str] = []
    for family in families:
        if not any(family.startswith(shorter) for shorter in kept):
            kept.append(family)
    return sorted(f"{family}*" for family in kept)


def _components(registry: Registry) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    components: dict[str, list[str]] = {}
    patterns: dict[str, list[str]] = {}
    for entry in registry.components():
        components.setdefault(entry.kind, []).append(entry.name)
    for kind in list(components):
        if len(components[kind]) > MAX_LISTED:
            patterns[kind] = _patterns(components.pop(kind))
    return components, patterns


def _entry(root: Path, package_dir: Path, module_root: Path) -> dict[str, Any]:
    pyproject = tomllib.loads((package_dir / "pyproject.toml").read_text(encoding="utf-8"))
    project = pyproject["project"]
    points = project.get("entry-points", {}).get("flexzoo", {})
    if len(points) != 1:
        raise FlexzooError(f"{package_dir / 'pyproject.toml'}: expected one entry point in the `flexzoo` group, "
                           f"found {len(points)}")
    (name, target), = points.items()
    with _importable(module_root):
        module = importlib.import_module(target.partition(":")[0])
    registry = Registry.from_modules({name: module})
    plugin = registry.plugin(name)
    if plugin is None or plugin.status != "loaded":
        raise FlexzooError(f"{package_dir}: the plugin `{name}` does not load: {plugin and plugin.error}")
    apis = [int(k[len(API_KEYWORD_PREFIX):]) for k in project.get("keywords", []) if k.startswith(API_KEYWORD_PREFIX)]
    requirement = next((re.sub(r"^flexzoo\s*", "", d).split(";")[0].strip() for d in project.get("dependencies", [])
                        if re.match(r"^flexzoo\s*([<>=!~]|$)", d)), "")
    version = _version(project, pyproject, package_dir)
    urls = project.get("urls", {})
    components, patterns = _components(registry)
    entry = {
        "name": name,
        "distribution": project["name"],
        "version": version,
        "summary": project.get("description", ""),
        "homepage": urls.get("Homepage") or next(iter(urls.values()), HOMEPAGE),
        "first_party": True,
        "source": package_dir.relative_to(root).as_posix() if package_dir != root else ".",
        "plugin_api": apis or [getattr(module, "FLEXZOO_PLUGIN_API", PLUGIN_API_VERSION)],
        "flexzoo": requirement or f"=={version}",
        "components": components,
    }
    if patterns:
        entry["patterns"] = patterns
    models = pyproject.get("tool", {}).get("flexzoo", {}).get("models")  # [tool.flexzoo] models = ["hf-hub:..."]
    if models:
        entry["models"] = list(models)
    return entry


def first_party_entries(root: Path) -> list[dict[str, Any]]:
    """Entries for the host's own plugin and every package under ``plugins/``, sorted by name."""
    entries = [_entry(root, root, root / "core")]
    for pyproject in sorted((root / "plugins").glob("*/pyproject.toml")):
        entries.append(_entry(root, pyproject.parent, pyproject.parent))
    return sorted(entries, key=lambda e: e["name"])


def regenerate(root: Path) -> str:
    """The index text with first-party entries rebuilt and third-party entries kept."""
    path = root / INDEX_FILE
    third_party = []
    if path.exists():
        try:
            third_party = [e for e in json.loads(path.read_text(encoding="utf-8"))["plugins"]
                           if not e.get("first_party")]
        except (ValueError, KeyError, TypeError) as exc:
            raise FlexzooError(f"{path}: cannot read the existing index ({exc}); fix or delete it") from None
    plugins = sorted(first_party_entries(root) + third_party, key=lambda e: (e["name"], e["distribution"]))
    index = {"$schema": f"./{SCHEMA_FILE}", "format": INDEX_FORMAT, "plugins": plugins}
    return json.dumps(index, indent=2, ensure_ascii=False) + "\n"


def schema_problems(index_text: str, root: Path) -> list[str]:
    """Where the index breaks ``zoo_index.schema.json`` (needs the jsonschema package)."""
    try:
        import jsonschema
    except ImportError:
        raise FlexzooError("checking the index needs jsonschema: pip install jsonschema") from None
    schema = json.loads((root / SCHEMA_FILE).read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(schema)
    return [f"{'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}"
            for e in validator.iter_errors(json.loads(index_text))]


def stale_entries(current: str, regenerated: str) -> list[str]:
    """Names of the plugins whose entries differ between two index texts ('(format)' for the rest)."""
    try:
        old = {e["name"]: e for e in json.loads(current)["plugins"]}
    except (ValueError, KeyError, TypeError):
        return ["(not valid JSON)"]
    new = {e["name"]: e for e in json.loads(regenerated)["plugins"]}
    changed = sorted(n for n in old.keys() | new.keys() if old.get(n) != new.get(n))
    return changed or (["(formatting)"] if current != regenerated else [])
