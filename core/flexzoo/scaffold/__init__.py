"""``zoo new-plugin``: write a plugin package that installs with pip and passes its own tests."""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from string import Template

from flexzoo._version import PLUGIN_API_VERSION, __version__
from flexzoo.errors import FlexzooError
from flexzoo.plugin.components import KINDS, REGISTRATION_HOOKS
from flexzoo.plugin.kinds import COMPONENT_KINDS, resolve
from flexzoo.scaffold import files
from flexzoo.scaffold.components import HOST_USE

#: kind -> the example component written for it (named by the kind's declaration).
TEMPLATES = {kind.name: resolve(kind.example) for kind in COMPONENT_KINDS}

PLUGIN_NAME = re.compile(r"^[a-z][a-z0-9_]{0,40}$")
DEFAULT_KINDS = ("backbone", "head")


def _requirement() -> str:
    """The flexzoo versions a new plugin supports: this minor release series."""
    major, minor = (int(part) for part in __version__.split(".")[:2])
    return f">={major}.{minor},<{major}.{minor + 1}" if major == 0 else f">={major}.{minor},<{major + 1}"


def _components_module(name: str, kinds: Sequence[str]) -> str:
    needs_nn = bool({"initializer", "compressor"} & set(kinds))  # their inner functions annotate with nn.Module
    typing_names = [n for n, wanted in (("TYPE_CHECKING", needs_nn), ("Literal", "backbone" in kinds)) if wanted]
    from_plugin = sorted({"ParameterError", *(n for k in kinds for n in TEMPLATES[k].imports)})
    imports = [f"from typing import {', '.join(typing_names)}", ""] if typing_names else []
    imports.append(f"from flexzoo.plugin import {', '.join(from_plugin)}")
    if needs_nn:
        imports += ["", "if TYPE_CHECKING:", "    from torch import nn"]
    text = Template(files.COMPONENTS_HEADER).substitute(name=name, imports="\n" + "\n".join(imports) + "\n")
    if "backbone" in kinds:
        text += '\nActivation = Literal["relu", "gelu", "tanh"]\n'
    return text + "".join(TEMPLATES[kind].source for kind in kinds)


def _manifest(name: str, kinds: Sequence[str]) -> str:
    parts = [Template(TEMPLATES[k].use).substitute(name=name) if k in kinds else HOST_USE.get(k, "") for k in KINDS]
    return "\n".join(part for part in parts if part)


def render(name: str, kinds: Sequence[str]) -> dict[str, str]:
    """Relative path -> text of every file of the new package."""
    summary = f"flexzoo components from {name}."
    common = {"name": name, "summary": summary, "api": PLUGIN_API_VERSION}
    package = f"flexzoo_plugin_{name}"
    init = Template(files.INIT).substitute(common) + "".join(
        Template(files.HOOK).substitute(hook=REGISTRATION_HOOKS[k], component=TEMPLATES[k].factory) for k in kinds)
    examples = "{" + ", ".join(f'"{k}": {{"{TEMPLATES[k].factory}": {TEMPLATES[k].required}}}'
                               for k in kinds if TEMPLATES[k].required) + "}"
    qualified = "".join(f'\n    "{name}:{TEMPLATES[k].factory}",' for k in kinds)
    kind_tests = "".join(Template(TEMPLATES[k].test).substitute(name=name) for k in kinds)
    manifest = _manifest(name, kinds)
    return {
        "pyproject.toml": Template(files.PYPROJECT).substitute(common, requirement=_requirement()),
        "README.md": Template(files.README).substitute(common, manifest=manifest),
        f"{package}/__init__.py": init,
        f"{package}/components.py": _components_module(name, kinds),
        f"tests/test_{name}_conformance.py": Template(files.CONFORMANCE_TEST).substitute(
            common, title=name.title().replace("_", ""), examples=examples),
        f"tests/test_{name}_build.py": Template(files.BUILD_TEST).substitute(
            common, manifest=manifest, qualified=qualified, kind_tests=kind_tests),
    }


def parse_kinds(text: str) -> list[str]:
    """'backbone,heads' -> ['backbone', 'head'] in lifecycle order; unknown words are an error."""
    from flexzoo.host.registry import did_you_mean
    from flexzoo.plugin.components import kind_from_word

    kinds = []
    for word in filter(None, (w.strip() for w in text.split(","))):
        kind = kind_from_word(word)
        if kind is None:
            raise FlexzooError(f"unknown kind `{word}`; " + (did_you_mean(word, KINDS) or f"kinds: {', '.join(KINDS)}"))
        kinds.append(kind)
    if not kinds:
        raise FlexzooError(f"--kinds names no kind; kinds: {', '.join(KINDS)}")
    return sorted(set(kinds), key=KINDS.index)


def create_plugin(name: str, kinds: Sequence[str], parent: Path) -> Path:
    """Write ``parent/flexzoo-plugin-<name>/`` whole or not at all; return its path."""
    if not PLUGIN_NAME.match(name):
        suggestion = re.sub(r"[^a-z0-9_]", "_", name.lower()).lstrip("_0123456789") or "myplugin"
        raise FlexzooError(f"`{name}` is not a plugin name: use lower-case letters, digits and '_', starting "
                           f"with a letter (it becomes the module flexzoo_plugin_<name>); for example `{suggestion}`")
    target = parent / f"flexzoo-plugin-{name}"
    if target.exists():
        raise FlexzooError(f"{target} already exists; choose another name or directory (-o)")
    parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=parent))
    try:
        for relative, text in render(name, kinds).items():
            path = staging / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target
