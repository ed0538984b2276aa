"""Benchmark runner: ``make bench``. Every ``bench/measure_*.py`` contributes rows.

Each measure module defines ``measure() -> list[Row]``. A row compares a measured value with a
baseline taken in the same run (same process or same command), and reports the ratio against
its target; nothing here is a pass/fail test. Prints a table and writes ``bench/results.json``.
"""

from __future__ import annotations

import importlib.util
import json
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import Row

HERE = Path(__file__).parent


def _load(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv: list[str]) -> int:
    selected = set(argv)
    rows: list[Row] = []
    for path in sorted(HERE.glob("measure_*.py")):
        topic = path.stem.removeprefix("measure_")
        if selected and topic not in selected:
            continue
        started = time.perf_counter()
        rows += _load(path).measure()
        print(f"# {topic}: {time.perf_counter() - started:.1f} s", file=sys.stderr)
    headers = ["measure", "value", "baseline", "ratio", "target", "met"]
    lines = [[r.name, r.value_text(), r.baseline_text(), f"{r.ratio:.3f}", r.target_text(), r.met_text()]
             for r in rows]
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *lines)]
    for line in [headers, *lines]:
        print("  ".join(str(c).ljust(w) for c, w in zip(line, widths)).rstrip())
    for r in rows:
        if r.note:
            print(f"  * {r.name}: {r.note}")
    results = {"python": platform.python_version(), "machine": platform.machine(),
               "rows": [r.as_dict() for r in rows]}
    (HERE / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {HERE / 'results.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
