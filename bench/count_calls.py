"""Count the distinct flexzoo functions a CLI command runs: ``python bench/count_calls.py build M -o DIR``.

Runs ``zoo ARGS...`` in this process under cProfile and counts the functions defined in flexzoo's
own modules (core and first-party plugins) that were called, and how many calls they received.
``FLEXZOO_SHOW=load_dataset,weights_sha256`` also prints how often functions of those names ran.
Used to compare the ``zoo build`` and ``zoo train`` paths before and after a restructuring.
"""

from __future__ import annotations

import cProfile
import os
import pstats
import sys


def _ours(filename: str) -> bool:
    return "/flexzoo/" in filename or "/flexzoo_plugin_" in filename


def main(argv: list[str]) -> int:
    from flexzoo.cli import main as zoo

    profile = cProfile.Profile()
    status = profile.runcall(zoo, argv)
    stats = pstats.Stats(profile).stats  # {(file, line, name): (calls, ...)}
    ours = {key: value for key, value in stats.items() if _ours(key[0])}
    named = {key: value for key, value in ours.items() if not key[2].startswith("<")}  # no module bodies, lambdas
    calls = sum(value[1] for value in named.values())
    print(f"zoo {' '.join(argv)}: exit {status}, {len(named)} distinct flexzoo functions ({len(ours)} code "
          f"objects with module bodies, lambdas and comprehensions), {calls} calls", file=sys.stderr)
    for name in filter(None, os.environ.get("FLEXZOO_SHOW", "").split(",")):
        count = sum(value[1] for key, value in ours.items() if key[2] == name)
        print(f"  {name}: {count} call(s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
