"""One rank of bench/measure_sharding.py: timed training steps of a strategy, and its optimizer state's size.

    python sharding_child.py MANIFEST OUT_DIR STEPS STRATEGY [KEY=INT ...]    (under torchrun for several ranks)

Writes ``OUT_DIR/rank<R>.json``: the median step time (forward, backward, optimizer step) and the
bytes of optimizer state this rank holds. STRATEGY ``single`` is the plain one-process run.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

import torch

import flexzoo
import flexzoo.builtin
import flexzoo_plugin_distributed
from flexzoo.host.registry import Registry
from flexzoo.manifest.validation import load_manifest
from flexzoo.plugin import SingleProcess

WARMUP, GLOBAL_BATCH = 5, 64


def state_bytes(optimizer: torch.optim.Optimizer) -> int:
    """Bytes of optimizer state in this process (ZeroRedundancyOptimizer: its partition; FSDP: local shards)."""
    local = getattr(optimizer, "optim", optimizer)
    tensors = [value for per_parameter in local.state.values() for value in per_parameter.values()
               if isinstance(value, torch.Tensor)]
    tensors = [t.to_local() if hasattr(t, "to_local") else t for t in tensors]
    return sum(t.numel() * t.element_size() for t in tensors)


def main(manifest_path: str, out: str, steps: str, strategy_name: str, *options: str) -> None:
    torch.set_num_threads(1)
    registry = Registry.from_modules({"builtin": flexzoo.builtin, "distributed": flexzoo_plugin_distributed})
    arguments = {key: int(value) for key, value in (option.split("=") for option in options)}
    strategy = (SingleProcess() if strategy_name == "single"
                else registry.resolve("strategy", strategy_name).component.factory(**arguments))
    strategy.setup()
    try:
        torch.manual_seed(0)
        wrapped = strategy.wrap(flexzoo.build(load_manifest(Path(manifest_path), registry), registry).train())
        optimizer = torch.optim.AdamW(wrapped.parameters(), lr=1e-3)
        wrap_optimizer = getattr(strategy, "wrap_optimizer", None)
        if wrap_optimizer is not None:
            optimizer = wrap_optimizer(wrapped, optimizer)
        batch = GLOBAL_BATCH // strategy.world_size
        x, digit, parity = torch.randn(batch, 1, 8, 8), torch.randint(0, 10, (batch,)), torch.randint(0, 2, (batch,))
        seconds = []
        warmup = min(WARMUP, int(steps))
        for step in range(warmup + int(steps)):
            started = time.perf_counter()
            outputs = wrapped(x)
            loss = torch.nn.functional.cross_entropy(outputs["digit"], digit) + \
                torch.nn.functional.cross_entropy(outputs["parity"], parity)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            if step >= warmup:
                seconds.append(time.perf_counter() - started)
        result = {"step_s": statistics.median(seconds), "optimizer_state_bytes": state_bytes(optimizer),
                  "parameters": sum(p.numel() for p in wrapped.parameters())}
        (Path(out) / f"rank{strategy.rank}.json").write_text(json.dumps(result))
    finally:
        strategy.teardown()


if __name__ == "__main__":
    main(*sys.argv[1:])
