"""Rewrite references to flexzoo's module paths from before the regrouping into packages (issue 20).

For a branch written against the old flat layout: after merging, run it over the files the branch
touched, then `ruff check --fix` (import order) and the tests::

    python tools/old_module_paths.py $(git diff --name-only main...HEAD)

It rewrites dotted names (``flexzoo.registry.Registry`` -> ``flexzoo.host.registry.Registry``, in code,
strings and docs), ``from flexzoo import registry`` and ``from flexzoo.training import lora`` forms,
and file paths (``core/flexzoo/pipeline.py``). Helpers that left ``flexzoo.plugin`` for
``flexzoo.plugin.helpers`` still import, with a DeprecationWarning; they are not rewritten here.
Paths already in the new layout are left alone; review the diff all the same: a deliberate mention
of an old path (the deprecated ``flexzoo.restoring``, a test of old imports) is rewritten too.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

#: Old module (under flexzoo) -> new module.
MOVED = {
    "adapters": "features.lora.adapters", "artifact.safetensors_header": "plugin.safetensors_header",
    "assembly": "assembly.builder", "catalogue": "host.catalogue", "centernet": "features.detection.centernet",
    "charts": "reporting.charts", "components": "plugin.components", "compression": "compression.steps",
    "constraints": "manifest.constraints", "discovery": "host.discovery", "dtypes": "inputs.dtypes",
    "ensemble": "manifest.ensemble", "entry_point_cache": "host.entry_point_cache",
    "exporters": "exporting.exporters", "growth": "features.growth.growth", "hookspecs": "plugin.hookspecs",
    "html_report": "cli.report_page", "image_suffixes": "inputs.image_suffixes", "images": "inputs.images",
    "index_builder": "host.index_builder", "low_rank": "compression.low_rank", "manifest": "manifest.resolved",
    "member_artifacts": "features.ensembles.members", "multi_input": "manifest.multi_input",
    "pipeline": "pipeline.stages", "protocols": "plugin.protocols", "registry": "host.registry",
    "report": "reporting.report", "restoring": "plugin.restoring", "schema": "manifest.schema",
    "sections": "manifest.sections", "shipped_list": "plugin.shipped_list", "single_process": "plugin.single_process",
    "steps": "plugin.steps", "tables": "reporting.tables", "tracking": "plugin.tracking",
    "training.config": "manifest.train", "training.detection": "features.detection.training",
    "training.lora": "features.lora.training", "transfer": "manifest.transfer", "transfer_weights": "pipeline.transfer",
    "tuning": "tuning.search", "validation": "manifest.validation", "weights_file": "plugin.weights_file",
}
#: Names that left pipeline.py for a module of their own in pipeline/.
PIPELINE_NAMES = {"run_directory": "run_hooks", "manifest_fingerprint": "run_hooks", "RunHooks": "run_hooks"}

_OLD = sorted(MOVED, key=len, reverse=True)
_DOTTED = re.compile(r"(?<![\w.])flexzoo\.(" + "|".join(map(re.escape, _OLD)) + r")(?![\w])")
_PATH = re.compile(r"(?<![\w])flexzoo/(" + "|".join(re.escape(o.replace(".", "/")) for o in _OLD) + r")\.py\b")
_FROM = re.compile(r"^(?P<indent>[ \t]*)from flexzoo(?P<parent>(?:\.[\w]+)*) import (?P<names>[\w, ]+?)[ \t]*$", re.M)
_KEEP = "\0"  # marks a line already rewritten, so the dotted pass leaves it alone
#: Modules of the new layout whose path starts with an old one (``flexzoo.manifest.schema``): left alone.
_NEW = {new for new in MOVED.values()} | {"pipeline.run_hooks", "pipeline.record", "pipeline.restore",
                                          "plugin.helpers", "manifest.train"}


def _dotted(match: re.Match[str]) -> str:
    old, rest = match.group(1), match.string[match.end():]
    child = re.match(r"(?:\.| import )(\w+)", rest)  # flexzoo.manifest.schema, from flexzoo.manifest import schema
    if child and any(new == f"{old}.{child.group(1)}" or new.startswith(f"{old}.{child.group(1)}.") for new in _NEW):
        return match.group(0)  # already the new path
    return "flexzoo." + MOVED[old]


def _from_line(match: re.Match[str]) -> str:
    indent, parent = match.group("indent"), match.group("parent").lstrip(".")
    kept, lines = [], []
    for item in (part.strip() for part in match.group("names").split(",") if part.strip()):
        name, _, alias = item.partition(" as ")
        old = f"{parent}.{name}" if parent else name
        if old in MOVED:
            new_parent, _, new_name = MOVED[old].rpartition(".")
            alias = alias.strip() or name
            lines.append(f"{indent}from flexzoo.{new_parent} import {new_name}"
                         + (f" as {alias}" if alias != new_name else "") + _KEEP)
        else:
            kept.append(item)
    if not lines:
        return match.group(0)
    if kept:
        lines.insert(0, f"{indent}from flexzoo{'.' + parent if parent else ''} import {', '.join(kept)}")
    return "\n".join(lines)


def rewrite(text: str) -> str:
    """``text`` with every old module path replaced by the new one."""
    text = _FROM.sub(_from_line, text)
    lines = [line if line.endswith(_KEEP) else _DOTTED.sub(_dotted, line)
             for line in text.split("\n")]
    text = "\n".join(line.removesuffix(_KEEP) for line in lines)
    text = _PATH.sub(lambda m: "flexzoo/" + MOVED[m.group(1).replace("/", ".")].replace(".", "/") + ".py", text)
    for name, module in PIPELINE_NAMES.items():
        text = re.sub(rf"flexzoo\.pipeline\.stages\.{name}\b", f"flexzoo.pipeline.{module}.{name}", text)
    return text


def main(paths: list[str]) -> int:
    for path in map(Path, paths):
        if path.suffix not in {".py", ".md", ".toml", ".txt"} or not path.is_file():
            continue
        text = path.read_text(encoding="utf-8")
        new = rewrite(text)
        if new != text:
            path.write_text(new, encoding="utf-8")
            print(f"rewrote {path}")
    print("now: ruff check --fix; `from flexzoo.pipeline.stages import run_directory` and the like need "
          "flexzoo.pipeline.run_hooks by hand")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
