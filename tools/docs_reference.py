"""The generated pages of the documentation site, rendered from the code they describe.

The mkdocs hook (``tools/mkdocs_hooks.py``) adds each page of :data:`PAGES` to the build, so a reference
cannot drift from the code: the manifest keys come from the same key tables validation checks against,
component parameters from the factory signatures ``zoo info`` reads, the CLI from the ``zoo`` parser, the
Python API from ``__all__`` (rendered by mkdocstrings) and the hooks from the hookspecs. ``missing_descriptions``
lists every key, option or public name that has none; a test keeps it empty.

    python tools/docs_reference.py reference/manifest.md    # print one page
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from flexzoo.manifest import budget, ensemble, multi_input, schema, train, validation
from flexzoo.manifest.sections import KeyTable
from flexzoo.plugin.components import HOST_PARAMETERS, KINDS

sys.path.insert(0, str(Path(__file__).resolve().parent))
import hookspec_reference

# --- the manifest --------------------------------------------------------------------------------------------

#: Every plain section's key table, by the key path a manifest writes it under (``[train.heads.<head>]``).
#: A test walks the manifest modules for KeyTable objects and fails on one missing here.
KEY_TABLES: dict[str, KeyTable] = {
    "model": validation.MODEL_KEYS,
    "train": train.TRAIN_KEYS,
    "train.heads.<head>": train.HEAD_KEYS,
    "train.early_stopping": train.EARLY_STOPPING_KEYS,
    "train.preprocess": train.PREPROCESS_KEYS,
    "train.augment": train.AUGMENT_KEYS,
    "train.lora": train.LORA_KEYS,
    "[train.grow]": train.GROW_KEYS,
    "train.adversarial": train.ADVERSARIAL_KEYS,
    "export": validation.EXPORT_KEYS,
    "track": validation.TRACK_KEYS,
    "ensemble": ensemble.ENSEMBLE_KEYS,
    "ensemble.members[i]": ensemble.MEMBER_KEYS,
    "ensemble.bagging": ensemble.BAGGING_KEYS,
    "inputs.<name>": multi_input.INPUT_KEYS,
    "budget": budget.BUDGET_KEYS,
}
#: The modules whose KeyTables the manifest reference must cover.
KEY_TABLE_MODULES = (validation, train, ensemble, multi_input, budget)

#: Sections whose keys are a component's parameters, with the host's own keys beside ``use``.
COMPONENT_SECTIONS: dict[str, tuple[str, str, dict[str, str]]] = {
    "backbone": ("backbone", "the backbone that turns an input batch into features", {
        "from": "an artifact (path relative to the manifest, or hf-hub:ORG/NAME) whose backbone component, "
                "parameters and weights are reused, instead of `use`",
        "freeze": "true freezes the whole backbone (and its normalization statistics); a list of glob patterns "
                  "freezes the parameters that match"}),
    "heads.<head>": ("head", "one table per head; the key names the head's output", {}),
    "[init]": ("initializer", "applied in order to the modules whose qualified names match", {
        "match": 'a glob over the model\'s module names, e.g. "backbone.*" (default "*")'}),
    "[compress]": ("compressor", "applied in order after [[init]] (and after training under `zoo train`)", {}),
    "distributed": ("strategy", 'how the model runs across processes; default use = "single"', {}),
    "fusion": ("backbone", "joins the features of several [inputs] (default use = \"concat\")", {}),
    "inputs.<name>.backbone": ("backbone", "the backbone that reads this input (inline table or sub-table)", {}),
    "train.source": ("dataset", "the parameters of the data source that [train] data names (no `use`)", {}),
}
USE_DOC = "the component: `name` or `plugin:name` (`zoo list {kind}s` shows them); every other key is a parameter"


def _default(key: Any) -> str:
    if key.required:
        return "required"
    return f"`{schema.to_toml(key.default)!r}`" if key.default is not None else "none"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _section_title(path: str) -> str:
    return f"[{path}]"


def key_rows(table: KeyTable) -> Iterator[tuple[str, str, str, str, str]]:
    """(key, type, default, constraint, description) of each key of a table."""
    from flexzoo.manifest import constraints

    for key in table.values():
        limit = constraints.describe(key.annotation)
        yield (key.name, schema.type_text(key.annotation), _default(key), limit, key.doc)


def _table(headers: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(_cell(cell) or "-" for cell in row) + " |" for row in rows]
    return lines


def manifest_reference() -> str:
    lines = ["# Manifest reference", "",
             "Generated from the key tables `zoo validate` checks against (`flexzoo.manifest`), so it lists every "
             "key a manifest may hold. A manifest's top-level sections are: "
             + ", ".join(f"`[{s}]`" for s in validation.SECTIONS) + ".", "",
             "## Plain sections", ""]
    for path, table in KEY_TABLES.items():
        lines += [f"### `{_section_title(path)}`", ""]
        lines += _table(["key", "type", "default", "constraint", "description"],
                        [[f"`{name}`", f"`{kind}`", default, limit, doc]
                         for name, kind, default, limit, doc in key_rows(table)])
        if table.nested:
            lines += ["", "Sub-tables: " + ", ".join(f"`[{path}.{n}]`" for n in table.nested) + "."]
        lines.append("")
    lines += ["## Component sections", "",
              "These tables name a component with `use`; every other key is one of its factory's parameters "
              "(see [Builtin components](components.md), or `zoo info COMPONENT`).", ""]
    for path, (kind, doc, host_keys) in COMPONENT_SECTIONS.items():
        lines += [f"### `{_section_title(path)}`", "", f"A {kind}: {doc}.", ""]
        rows = [] if path == "train.source" else [["`use`", USE_DOC.format(kind=kind)]]
        rows += [[f"`{name}`", text] for name, text in host_keys.items()]
        rows += [[f"`{name}`", f"set by the host: {text}"] for name, text in HOST_PARAMETERS.get(kind, {}).items()
                 if kind != "dataset"]
        lines += [*_table(["key", "description"], rows), ""]
    return "\n".join(lines)


def components_reference() -> str:
    """Every installed builtin component with its parameters, as ``zoo info`` shows them."""
    from flexzoo.host.registry import default_registry

    registry = default_registry()
    lines = ["# Builtin components", "",
             "The host's own plugin, `builtin`: each component with its parameters as `zoo info` shows them "
             "(generated from the factories' signatures and docstrings). Plugins add their own; "
             "`zoo list` and `zoo info` show what is installed.", ""]
    for kind in KINDS:
        entries = [e for e in registry.components(kind) if e.plugin == "builtin"]
        if not entries:
            continue
        lines += [f"## {kind.capitalize()}s", ""]
        for entry in sorted(entries, key=lambda e: e.name):
            lines += [f"### `{entry.qualified_name}`", "", entry.component.summary or "", ""]
            host = HOST_PARAMETERS.get(kind, {})
            rows = []
            for spec in schema.parameters(entry.component.factory):
                if spec.name in host:
                    default = f"set by the host: {host[spec.name]}"
                else:
                    default = "required" if spec.required else f"`{schema.to_toml(spec.default)!r}`"
                rows.append([f"`{spec.name}`", f"`{spec.type_text}`", spec.constraints, default, spec.doc])
            lines += (_table(["parameter", "type", "constraint", "default", "description"], rows)
                      if rows else ["No parameters."]) + [""]
    return "\n".join(lines)


def builtin_parameters() -> Iterator[tuple[str, str]]:
    """(component, parameter) for each builtin parameter without a description."""
    from flexzoo.host.registry import default_registry

    registry = default_registry()
    for kind in KINDS:
        for entry in registry.components(kind):
            if entry.plugin != "builtin":
                continue
            for spec in schema.parameters(entry.component.factory):
                yield entry.qualified_name, spec.name, spec.doc


# --- the command line ----------------------------------------------------------------------------------------

def _verbs(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _options(parser: argparse.ArgumentParser) -> Iterator[argparse.Action]:
    for action in parser._actions:
        if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
            continue
        yield action


#: What the verbs' positional arguments mean; argparse's help, where one gives it, comes first.
POSITIONAL_DOCS = {
    "manifest": "the manifest file (TOML)",
    "artifact": "an artifact: a .safetensors file written by `zoo build`/`zoo train`, or hf-hub:ORG/NAME",
}
#: Public values that cannot carry a ``#:`` comment where they are defined (another change owns the line).
VALUE_DOCS = {"__version__": "flexzoo's version, a semantic version (see the versioning policy)"}


def _help(action: argparse.Action) -> str:
    return action.help or ("" if action.option_strings else POSITIONAL_DOCS.get(action.dest, ""))


def _option_row(action: argparse.Action) -> list[str]:
    name = ", ".join(f"`{s}`" for s in action.option_strings) or f"`{action.metavar or action.dest}`"
    takes = action.nargs != 0
    default = action.default
    shown = "-" if not takes or default in (None, argparse.SUPPRESS, [], "") else f"`{default}`"
    metavar = action.metavar if isinstance(action.metavar, str) else action.dest.upper()
    value = f"`{metavar}`" if takes and action.option_strings else ""
    return [name, value, shown, _help(action).replace("%(default)s", str(default))]


def cli_parser() -> argparse.ArgumentParser:
    from flexzoo.cli import _parser

    return _parser()


def cli_reference() -> str:
    parser = cli_parser()
    lines = ["# Command line: `zoo`", "", "Generated from the `zoo` argument parser (`flexzoo.cli`). "
             "`python -m flexzoo` is the same program. Exit status: 0 success, 1 a problem with the input "
             "(one message on stderr), 2 a usage error, 3 an internal error, 130 interrupted.", "",
             "## Global options", "", "Given before the verb: `zoo --debug build model.toml`.", ""]
    lines += _table(["option", "value", "default", "description"], [_option_row(a) for a in _options(parser)])
    lines.append("")
    for name, sub in _verbs(parser).items():
        usage = " ".join(sub.format_usage().split())
        usage = usage.removeprefix("usage: ")
        lines += [f"## `zoo {name}`", "", sub.description or "", "", "```text", usage, "```", ""]
        rows = [_option_row(a) for a in _options(sub)]
        lines += (_table(["argument", "value", "default", "description"], rows) if rows else ["No options."]) + [""]
    return "\n".join(lines)


# --- the Python API ------------------------------------------------------------------------------------------

API_MODULES = ("flexzoo", "flexzoo.plugin", "flexzoo.plugin.helpers", "flexzoo.testing")


def attribute_doc(module: Any, name: str) -> str:
    """The ``#:`` comment above ``name``'s assignment, in ``module`` or the flexzoo module it was imported from."""
    if name in VALUE_DOCS:
        return VALUE_DOCS[name]
    candidates = [module, *[m for key, m in sorted(sys.modules.items())
                            if key.startswith("flexzoo") and m is not module and m is not None]]
    pattern = re.compile(rf"^((?:#:.*\n)+){re.escape(name)}\s*(?::[^=\n]*)?=", re.MULTILINE)
    for candidate in candidates:
        try:
            source = inspect.getsource(candidate)
        except (OSError, TypeError):
            continue
        found = pattern.search(source)
        if found:
            return " ".join(line.removeprefix("#:").strip() for line in found.group(1).splitlines())
    return ""


def is_documented_object(value: Any) -> bool:
    return inspect.isclass(value) or inspect.isroutine(value) or inspect.ismodule(value)


def public_names(module_name: str) -> Iterator[tuple[str, Any]]:
    module = importlib.import_module(module_name)
    for name in getattr(module, "__all__", []):
        yield name, getattr(module, name)


def api_reference(module_name: str) -> str:
    module = importlib.import_module(module_name)
    lines = [f"# `{module_name}`", "", inspect.getdoc(module).split("\n\n")[0] if inspect.getdoc(module) else "",
             "", "Generated from `__all__` and the docstrings.", ""]
    values = [(n, v) for n, v in public_names(module_name) if not is_documented_object(v) or n in ("hookimpl",)]
    if values:
        lines += ["## Values", ""]
        rows = [[f"`{n}`", f"`{v!r}`" if not callable(v) else "-", attribute_doc(module, n)] for n, v in values]
        lines += [*_table(["name", "value", "description"], rows), ""]
    earlier = API_MODULES[:API_MODULES.index(module_name)] if module_name in API_MODULES else ()
    seen = {id(v): m for m in earlier for _, v in public_names(m) if is_documented_object(v)}
    for name, value in public_names(module_name):
        if not is_documented_object(value) or name == "hookimpl":
            continue
        if id(value) in seen:
            home = seen[id(value)]
            lines += [f"## `{name}`", "", f"The same object as [`{home}.{name}`]({home}.md).", ""]
            continue
        if inspect.ismodule(value):
            lines += [f"## `{name}`", "", f"See [`{value.__name__}`]({value.__name__}.md).", ""]
            continue
        lines += [f"::: {value.__module__}.{value.__qualname__}", "    options:", "      heading_level: 2",
                  "      show_root_full_path: false", ""]
    return "\n".join(lines)


def missing_api_descriptions() -> Iterator[str]:
    for module_name in API_MODULES:
        module = importlib.import_module(module_name)
        for name, value in public_names(module_name):
            text = inspect.getdoc(value) if is_documented_object(value) and name != "hookimpl" else \
                attribute_doc(module, name)
            if not (text or "").strip():
                yield f"{module_name}.{name}"


# --- hooks ---------------------------------------------------------------------------------------------------

def hooks_reference() -> str:
    body = hookspec_reference.render().replace(hookspec_reference.START, "").replace(hookspec_reference.END, "")
    return ("# Hook reference\n\nGenerated from `flexzoo.plugin.hookspecs`, the whole extension surface a plugin "
            "implements with `@flexzoo.hookimpl`. The [plugin guide](../plugins.md) explains how to use them.\n"
            + body.replace("### ", "## ").replace("#### ", "### "))


def missing_descriptions() -> list[str]:
    """Every manifest key, CLI option, builtin parameter or public name that has no description."""
    missing = [f"[{path}] {name}" for path, table in KEY_TABLES.items() for name, key in table.items()
               if not key.doc.strip()]
    parser = cli_parser()
    missing += [f"zoo {' '.join(a.option_strings) or a.dest}" for a in _options(parser) if not _help(a)]
    for verb, sub in _verbs(parser).items():
        if not sub.description:
            missing.append(f"zoo {verb}")
        missing += [f"zoo {verb} {a.option_strings[0] if a.option_strings else a.dest}"
                    for a in _options(sub) if not _help(a)]
    missing += [f"{component} parameter {name}" for component, name, doc in builtin_parameters()
                if not doc.strip()]
    missing += list(missing_api_descriptions())
    return missing


PAGES: dict[str, Callable[[], str]] = {
    "reference/manifest.md": manifest_reference,
    "reference/components.md": components_reference,
    "reference/cli.md": cli_reference,
    "reference/hooks.md": hooks_reference,
    **{f"reference/api/{name}.md": (lambda name=name: api_reference(name)) for name in API_MODULES},
}


if __name__ == "__main__":
    for page in sys.argv[1:] or list(PAGES):
        print(PAGES[page]())
