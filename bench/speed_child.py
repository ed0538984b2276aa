"""One measured process for bench/measure_speed.py: a load, or a start-up to the first optimizer step.

    python speed_child.py load zoo ARTIFACT          -> JSON: seconds, peak and post-import RSS
    python speed_child.py load plain MODEL FILE
    python speed_child.py load hash ARTIFACT         -> JSON: seconds of the weights' tree digest alone
    python speed_child.py load sequential ARTIFACT   -> JSON: seconds of the one-core sha256 older artifacts use
    python speed_child.py first-step zoo MANIFEST OUT -> prints the wall-clock time of the first step
    python speed_child.py first-step lightning MANIFEST
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from pathlib import Path


def rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def load(kind: str, *args: str) -> None:
    import timm  # both paths import torch and timm before the clock starts
    import torch

    torch.set_num_threads(1)
    if kind in ("hash", "sequential"):
        from flexzoo.artifact.format import verify_weights_of
        from flexzoo.plugin.safetensors_header import hash_file_tensors, read_header

        header = read_header(args[0])
        started = time.perf_counter()
        if kind == "hash":
            verify_weights_of(Path(args[0]), header)
        else:
            hash_file_tensors(args[0], header)
        print(json.dumps({"seconds": time.perf_counter() - started}))
        return
    if kind == "zoo":
        import flexzoo

        imported = rss()
        started = time.perf_counter()
        model = flexzoo.load(args[0])
    else:
        from safetensors.torch import load_file

        imported = rss()
        started = time.perf_counter()
        model = timm.create_model(args[0], pretrained=False, num_classes=0)
        model.load_state_dict(load_file(args[1]))
        model.eval()
    seconds = time.perf_counter() - started
    assert not any(p.is_meta for p in model.parameters())
    print(json.dumps({"seconds": seconds, "peak_rss": peak_rss(), "imported_rss": imported}))


def first_step(kind: str, *args: str) -> None:
    import torch

    def stop(*_: object) -> None:
        print(f"{time.time():.6f}", flush=True)
        os._exit(0)

    from torch.optim.optimizer import register_optimizer_step_post_hook

    register_optimizer_step_post_hook(stop)
    if kind == "zoo":
        from flexzoo.cli import main

        main(["train", args[0], "-o", args[1], "-q"])
    else:
        import lightning_loop

        torch.set_num_threads(1)  # as the manifest's threads = 1 does for zoo train

        lightning_loop.fit(args[0], epochs=1)


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(__file__))
    {"load": load, "first-step": first_step}[sys.argv[1]](*sys.argv[2:])
