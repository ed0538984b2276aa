"""One ``zoo build`` in this process, its CPU seconds per phase as JSON (for bench/measure_pretrained.py).

    python build_phases.py MANIFEST OUT
"""

from __future__ import annotations

import json
import sys
import time

started = time.process_time()
marks: list[tuple[str, float]] = []


def mark(name: str) -> None:
    marks.append((name, time.process_time()))


def timed(owner: object, attribute: str, phase: str) -> None:
    """Charge the time up to a call to what came before, and the call itself to ``phase``."""
    function = getattr(owner, attribute)

    def wrapper(*args: object, **kwargs: object) -> object:
        mark("other")
        result = function(*args, **kwargs)
        mark(phase)
        return result

    setattr(owner, attribute, wrapper)


if __name__ == "__main__":
    import safetensors.torch  # noqa: F401 (what the hand-written script imports too)
    import timm  # noqa: F401
    import torch  # noqa: F401

    mark("import torch, timm, safetensors")
    import flexzoo.artifact.write as write
    from flexzoo.cli import main
    from flexzoo.pipeline import stages

    mark("import flexzoo")
    timed(stages.Pipeline, "plan", "dry run")
    timed(stages.Pipeline, "build", "build")
    timed(write, "model_card", "card")
    timed(write, "save_aligned", "write and hash")  # both digests are taken in threads while the file is written
    with open("/dev/null", "w") as quiet:
        sys.stdout = quiet
        main(["build", sys.argv[1], "-o", sys.argv[2]])
        sys.stdout = sys.__stdout__
    mark("other")
    phases: dict[str, float] = {}
    previous = started
    for name, at in marks:
        phases[name] = phases.get(name, 0.0) + at - previous
        previous = at
    print(json.dumps(phases))
