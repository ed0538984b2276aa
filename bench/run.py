"""Benchmark runner: ``make bench``. Every ``bench/measure_*.py`` contributes rows.

Each measure module defines ``measure() -> list[Row]``. A row compares a measured value with a
baseline taken in the same run (same process or same command), and reports the ratio against
its target; nothing here is a pass/fail test. Prints a table and writes ``bench/results.json``.

    python bench/run.py [TOPIC ...]          every module, or the named ones (``compress``, ``core``...)
    python bench/run.py --smoke [TOPIC ...]  each module at tiny sizes, in seconds: its ``SMOKE`` dict
                                             replaces its size constants. The numbers mean nothing and
                                             nothing is written; `make test` runs it (tests/test_bench.py)
                                             so that an API change that breaks a benchmark breaks the build.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import platform
import sys
import time
from pathlib import Path
from types import ModuleType

sys.path.insert(0, str(Path(__file__).parent))
from common import Row

HERE = Path(__file__).parent


def topics() -> dict[str, Path]:
    """Each measure module's topic (``measure_compress.py`` -> ``compress``) and its path."""
    return {path.stem.removeprefix("measure_"): path for path in sorted(HERE.glob("measure_*.py"))}


def _load(path: Path, smoke: bool) -> ModuleType:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module  # what a worker process unpickles a module's function from
    spec.loader.exec_module(module)
    if smoke:
        vars(module).update(module.SMOKE)
    return module


def table(rows: list[Row]) -> list[str]:
    """The rows as aligned text: each with its value, baseline, ratio, target and whether it is met."""
    headers = ["measure", "value", "baseline", "ratio", "target", "met"]
    lines = [[r.name, r.value_text(), r.baseline_text(), r.ratio_text(), r.target_text(), r.met_text()]
             for r in rows]
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *lines)]
    text = ["  ".join(str(c).ljust(w) for c, w in zip(line, widths)).rstrip() for line in [headers, *lines]]
    return text + [f"  * {r.name}: {r.note}" for r in rows if r.note]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="Run the benchmarks (bench/measure_*.py) and print their rows.")
    parser.add_argument("topics", nargs="*", help=f"run only these: {', '.join(topics())}")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, seconds each: checks the benchmarks run")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.topics) - set(topics()))
    if unknown:
        parser.error(f"unknown topic(s) {', '.join(unknown)}; known: {', '.join(topics())}")
    rows: list[Row] = []
    for topic, path in topics().items():
        if args.topics and topic not in args.topics:
            continue
        started = time.perf_counter()
        rows += _load(path, args.smoke).measure()
        print(f"# {topic}: {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
    print("\n".join(table(rows)))
    if args.smoke:
        return 0
    results = {"python": platform.python_version(), "machine": platform.machine(),
               "rows": [r.as_dict() for r in rows]}
    (HERE / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {HERE / 'results.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
