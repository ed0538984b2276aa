"""``zoo new-plugin NAME``: scaffold a plugin package."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from flexzoo.plugin.components import KINDS


def register(verbs: Any) -> None:
    new = verbs("new-plugin", "create flexzoo-plugin-NAME/: package, example components, tests, README",
                cmd_new_plugin, json=False)
    new.add_argument("name", help="the plugin's name (lower-case, digits, '_'): manifests write NAME:component")
    new.add_argument("--kinds", default="backbone,head",
                     help=f"comma-separated kinds to give one example component each ({', '.join(KINDS)}); "
                          "default: backbone,head")
    new.add_argument("-o", "--output", type=Path, default=Path("."), help="directory to create it in (default: .)")


def cmd_new_plugin(args: argparse.Namespace) -> int:
    from flexzoo.scaffold import create_plugin, parse_kinds

    target = create_plugin(args.name, parse_kinds(args.kinds), args.output)
    print(f"created {target}\nnext: pip install -e '{target}[test]' && pytest {target}")
    return 0
