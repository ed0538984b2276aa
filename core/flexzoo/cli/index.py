"""``zoo search`` over the plugin catalogue, and ``zoo index`` to regenerate and check it."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from flexzoo.cli.render import emit_json, table
from flexzoo.errors import FlexzooError


def register(verbs: Any) -> None:
    search = verbs("search", "search the catalogue of known plugins, installed or not, and the models published "
                   "with them", cmd_search)
    search.add_argument("term", help="a word or wildcard: plugin, package, summary, component or model name")
    index = verbs("index", "regenerate zoo_index.json's first-party entries (in a flexzoo checkout)", cmd_index,
                  json=False)
    index.add_argument("--check", action="store_true", help="only check: exit 1 when the file is stale or invalid")
    index.add_argument("--root", type=Path, help="the repository root (default: found upwards from here)")


def _installed_version(distribution: str) -> str | None:
    from importlib import metadata  # 15-25 ms: only `zoo search` needs it

    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def cmd_search(args: argparse.Namespace) -> int:
    from flexzoo.host.catalogue import catalogue, index_path

    found = [(entry, entry.matches(args.term)) for entry in catalogue()]
    found = [(entry, matched) for entry, matched in found if matched]
    rows = []
    for entry, matched in found:
        installed = _installed_version(entry.distribution)
        rows.append({"name": entry.name, "distribution": entry.distribution, "version": entry.version,
                     "installed": installed, "first_party": entry.first_party, "summary": entry.summary,
                     "homepage": entry.homepage, "models": list(entry.models), "matches": matched})
    if args.json:
        emit_json(rows)
        return 0
    if not rows:
        raise FlexzooError(f"no known plugin matches `{args.term}` (catalogue: {index_path()})")
    print(table(["PLUGIN", "DISTRIBUTION", "VERSION", "INSTALLED", "MATCHES", "SUMMARY"],
                [[r["name"], r["distribution"], r["version"], r["installed"] or "no",
                  ", ".join(r["matches"][:3]) + (" ..." if len(r["matches"]) > 3 else ""), r["summary"]]
                 for r in rows]))
    models = [[r["name"], model] for r in rows for model in r["models"]]
    if models:  # flexzoo.load, zoo predict and [backbone] from take these references
        print()
        print(table(["PLUGIN", "PUBLISHED MODEL"], models))
    return 0


def _repository_root(start: Path) -> Path:
    from flexzoo.host.index_builder import SCHEMA_FILE

    for directory in [start, *start.parents]:
        if (directory / SCHEMA_FILE).is_file() and (directory / "pyproject.toml").is_file():
            return directory
    raise FlexzooError(f"no flexzoo checkout (a directory with {SCHEMA_FILE}) at or above {start}; "
                       "run `zoo index` in the repository or give --root")


def cmd_index(args: argparse.Namespace) -> int:
    from flexzoo.atomic import write_atomically
    from flexzoo.host.index_builder import INDEX_FILE, regenerate, schema_problems, stale_entries

    root = (args.root or _repository_root(Path.cwd())).resolve()
    path = root / INDEX_FILE
    text = regenerate(root)
    problems = schema_problems(text, root)
    if problems:
        raise FlexzooError(f"the regenerated {INDEX_FILE} breaks its schema:\n  " + "\n  ".join(problems))
    current = path.read_text(encoding="utf-8") if path.exists() else ""
    stale = stale_entries(current, text) if current else ["(missing)"]
    if args.check:
        if stale:
            raise FlexzooError(f"{path} is stale (entries: {', '.join(stale)}); run `zoo index` and commit it")
        print(f"{path} is up to date")
        return 0
    if stale:
        write_atomically(path, lambda target: target.write_text(text, encoding="utf-8"))
        print(f"{path}: rewrote entries {', '.join(stale)}")
    else:
        print(f"{path} is up to date")
    return 0
