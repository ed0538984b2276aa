"""Verbs that describe what is installed: ``zoo list``, ``zoo info``, ``zoo plugins`` (no torch).

The registry and the schema are imported by the verbs that use them, so that ``zoo --help`` pays for neither;
``zoo list`` reads the listing the registry gave last time when nothing it was made from has changed
(:mod:`flexzoo.host.listing`), and then imports neither the registry nor any plugin.
"""

from __future__ import annotations

import sys

from flexzoo._version import DEPRECATED_PLUGIN_APIS
from flexzoo.cli.render import emit_json, table

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing
if TYPE_CHECKING:
    import argparse
    from typing import Any

    from flexzoo.plugin.components import RegisteredComponent


def register(verbs: Any) -> None:
    listing = verbs("list", "list installed components", cmd_list)
    listing.add_argument("kind", nargs="?", help="backbones, heads, initializers, compressors or strategies")
    listing.add_argument("pattern", nargs="?", help="shell wildcard on the name, e.g. 'res*'")
    info = verbs("info", "show a component's parameters, types, constraints, defaults and doc", cmd_info)
    info.add_argument("component", help="name or plugin:name")
    info.add_argument("--kind", help="only this kind (when a name exists as several kinds)")
    verbs("plugins", "list discovered plugins and why any failed", cmd_plugins)


def _warn_failed(plugins: list[dict[str, Any]]) -> None:
    failed = [p["name"] for p in plugins if p["status"] == "failed"]
    if failed:
        print(f"zoo: warning: {len(failed)} plugin(s) failed to load ({', '.join(failed)}); `zoo plugins` says why",
              file=sys.stderr)


def _listing(trace: bool) -> dict[str, Any]:
    """What ``zoo list`` shows: kept from an earlier run when nothing it was made from changed, else the registry's.
    ``--trace-plugins`` always makes the registry (its trace is what was asked for)."""
    from flexzoo.host import listing

    kept = None if trace else listing.cached_listing()
    if kept is not None:
        return kept
    from flexzoo.host.registry import default_registry

    registry = default_registry()
    made = listing.listing_of(registry)
    listing.save_listing(made, registry)
    return made


def cmd_list(args: argparse.Namespace) -> int:
    import fnmatch

    listing = _listing(args.trace_plugins)
    kinds = {name: name for name, _ in listing["kinds"]} | {plural: name for name, plural in listing["kinds"]}
    kind, pattern = None, args.pattern
    if args.kind:
        kind = kinds.get(args.kind.lower())
        if kind is None:
            if pattern is not None:
                from flexzoo.errors import FlexzooError
                from flexzoo.host.registry import did_you_mean

                plural = [plural for _, plural in listing["kinds"]]
                hint = did_you_mean(args.kind, plural) or "kinds: " + ", ".join(plural)
                raise FlexzooError(f"unknown kind `{args.kind}`; {hint}")
            pattern = args.kind  # `zoo list 'res*'`: a pattern alone
    components = [(k, name, plugin, summary) for k, name, plugin, summary in listing["components"]
                  if (kind is None or k == kind) and (not pattern or fnmatch.fnmatchcase(name, pattern)
                                                      or fnmatch.fnmatchcase(f"{plugin}:{name}", pattern))]
    _warn_failed(listing["plugins"])
    if args.json:
        emit_json([{"kind": k, "name": name, "plugin": plugin, "qualified_name": f"{plugin}:{name}",
                    "summary": summary} for k, name, plugin, summary in components])
        return 0
    if not components:
        print("no components match" + (f" `{pattern}`" if pattern else ""), file=sys.stderr)
        return 1
    print(table(["KIND", "NAME", "PLUGIN", "SUMMARY"], [list(c) for c in components]))
    return 0


def _lookup(reference: str, kind_word: str | None) -> list[RegisteredComponent]:
    from flexzoo.errors import FlexzooError
    from flexzoo.host.registry import UnknownComponent, default_registry, did_you_mean
    from flexzoo.plugin.components import KINDS, kind_from_word

    registry = default_registry()
    kinds = list(KINDS)
    if kind_word:
        kind = kind_from_word(kind_word)
        if kind is None:
            raise FlexzooError(f"unknown kind `{kind_word}`; kinds: {', '.join(KINDS)}")
        kinds = [kind]
    found, errors = [], []
    for kind in kinds:
        try:
            found.append(registry.resolve(kind, reference))
        except UnknownComponent as exc:
            errors.append(exc)
    if found:
        return found
    every = [c.qualified_name for c in registry.components()] + [c.name for c in registry.components()]
    hint = did_you_mean(reference, every) or "`zoo list` shows every component"
    if registry.failures():
        hint = f"{registry.failures()}; otherwise: {hint}"
    ambiguous = [e for e in errors if "ambiguous" in e.message]
    if ambiguous:
        raise FlexzooError(f"{ambiguous[0].message}; {ambiguous[0].hint}")
    raise FlexzooError(f"unknown component `{reference}`; {hint}")


def _describe(entry: RegisteredComponent) -> dict[str, Any]:
    import inspect

    from flexzoo.manifest import schema
    from flexzoo.plugin.components import HOST_PARAMETERS

    host = HOST_PARAMETERS.get(entry.kind, {})
    params = []
    for spec in schema.parameters(entry.component.factory):
        params.append({
            "name": spec.name,
            "type": spec.type_text,
            "constraints": spec.constraints,
            "default": None if spec.required else schema.to_toml(spec.default),
            "required": spec.required and spec.name not in host,
            "set_by_host": host.get(spec.name),
            "doc": spec.doc,
        })
    described = {"kind": entry.kind, "name": entry.name, "plugin": entry.plugin,
                 "qualified_name": entry.qualified_name, "summary": entry.component.summary,
                 "doc": inspect.getdoc(entry.component.factory) or "", "parameters": params}
    if entry.kind == "head":  # what [train.heads.<name>] loss and metrics accept
        from flexzoo.tasks import GENERIC

        described["tasks"] = [{"name": task.name, "losses": list(task.losses), "metrics": dict(task.metrics),
                               "default_metrics": list(task.defaults)}
                              for task in entry.component.tasks or GENERIC]
    return described


def cmd_info(args: argparse.Namespace) -> int:
    described = [_describe(entry) for entry in _lookup(args.component, args.kind)]
    if args.json:
        emit_json(described if len(described) > 1 else described[0])
        return 0
    for index, info in enumerate(described):
        if index:
            print()
        print(f"{info['qualified_name']}  ({info['kind']})")
        if info["summary"]:
            print(f"  {info['summary']}")
        rows = []
        for p in info["parameters"]:
            if p["set_by_host"]:
                default = f"(host: {p['set_by_host']})"
            else:
                default = "(required)" if p["required"] else repr(p["default"])
            rows.append([p["name"], p["type"], p["constraints"] or "-", default, p["doc"]])
        print()
        headers = ["PARAMETER", "TYPE", "CONSTRAINTS", "DEFAULT", "DOC"]
        print("\n".join("  " + line for line in table(headers, rows).splitlines()) if rows else "  no parameters")
        if info.get("tasks"):
            print()
            rows = [[task["name"], ", ".join(task["losses"]), ", ".join(
                f"{metric} ({way}{', default' if metric in task['default_metrics'] else ''})"
                for metric, way in task["metrics"].items())] for task in info["tasks"]]
            print("\n".join("  " + line for line in table(["TASK", "LOSSES", "METRICS"], rows).splitlines()))
    return 0


def cmd_plugins(args: argparse.Namespace) -> int:
    from flexzoo.host.registry import default_registry

    plugins = default_registry().plugins
    if args.json:
        emit_json([p.as_dict() for p in plugins])
        return 0
    rows = []
    for p in plugins:
        count = sum(len(c) for c in p.components.values())
        detail = p.error if p.status != "loaded" else f"{count} component(s)"
        if p.api in DEPRECATED_PLUGIN_APIS and p.status == "loaded":
            detail += f"; {DEPRECATED_PLUGIN_APIS[p.api]}"
        api = "-" if p.api is None else f"{p.api} (deprecated)" if p.api in DEPRECATED_PLUGIN_APIS else str(p.api)
        rows.append([p.name, p.distribution or "-", p.version or "-", api, p.status, detail])
    print(table(["PLUGIN", "DISTRIBUTION", "VERSION", "API", "STATUS", "DETAIL"], rows))
    return 0
