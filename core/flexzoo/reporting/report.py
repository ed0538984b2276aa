"""The compression report: parameters, bytes and latency of a model before and after its [[compress]] steps.

Latency is the median of interleaved runs in this process on the same input (batch 8 by default),
eagerly and, when asked, under ``torch.compile`` (inductor, with weight freezing, which int8 graphs
need to run fast). Ratios are after / before.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from flexzoo.inputs.dtypes import example_input, input_dtype

__all__ = ["LATENCY_MODES", "compiled", "compression_report", "median_seconds_interleaved"]

#: Measures a model on held-out data: validation metric name -> value.
Evaluate = Callable[[nn.Module], dict[str, float]]

LATENCY_MODES = ("none", "eager", "compiled")


def median_seconds_interleaved(functions: Sequence[Callable[[], object]], repeats: int, warmup: int = 3
                               ) -> list[float]:
    """Median wall time of each function, calling them in turn so drift hits all of them alike.

    Each round calls them in its own order (shuffled, seeded): in a fixed order a function always runs after
    the same one, and pays for what that one leaves behind (``zoo --help`` timed after ``import torch``, whose
    2 s evict the caches, measured 2.2x ``python -c pass``; in shuffled rounds 1.6x to 1.9x).
    """
    for _ in range(warmup):
        for function in functions:
            function()
    times: list[list[float]] = [[] for _ in functions]
    order, shuffler = list(range(len(functions))), random.Random(0)
    for _ in range(repeats):
        shuffler.shuffle(order)
        for index in order:
            started = time.perf_counter()
            functions[index]()
            times[index].append(time.perf_counter() - started)
    return [statistics.median(t) for t in times]


def compiled(model: nn.Module, *, dynamic: bool | None = None) -> Callable[[torch.Tensor], Any]:
    """``torch.compile`` for inference, with weight freezing: the weights become constants the compiler folds.

    int8 graphs need it to fold their quantized weights (a static-int8 vit_tiny at batch 8 on 2 cores: 54 ms
    frozen, 115 ms not, 141 ms float32 eager). The report's compiled latency and ``--runtime compile`` (which
    passes ``dynamic=True``: batches vary) both run this, so the speed a report shows is the speed served.
    """
    import torch._inductor.config as inductor

    compiled_model = torch.compile(model, dynamic=dynamic)

    def run(x: torch.Tensor) -> Any:
        with inductor.patch(freezing=True), torch.no_grad():
            return compiled_model(x)

    return run


def _sizes(model: nn.Module, state: dict[str, torch.Tensor]) -> tuple[int, int]:
    """Parameters (int8 weight buffers of quantized graphs included) and bytes of the stored tensors."""
    parameters = sum(p.numel() for p in model.parameters())
    parameters += sum(b.numel() for b in model.buffers() if b.dtype == torch.int8)
    return parameters, sum(t.numel() * t.element_size() for t in state.values())


def compression_report(before: nn.Module, after: nn.Module, after_state: dict[str, torch.Tensor],
                       input_shape: tuple[int, ...] | None, *, evaluate: Evaluate | None = None,
                       latency: str = "eager", batch: int = 8, repeats: int = 20) -> dict[str, Any]:
    """Compare ``before`` and ``after`` (whose packed tensors, as stored, are ``after_state``).

    :param input_shape: one sample's shape; without it, latency is not measured.
    :param evaluate: the validation metrics of a model (the manifest's [train] data); given, the
        metrics of both models are compared too.
    """
    params_before, bytes_before = _sizes(before, before.state_dict())
    params_after, bytes_after = _sizes(after, after_state)
    report: dict[str, Any] = {
        "parameters": {"before": params_before, "after": params_after},
        "bytes": {"before": bytes_before, "after": bytes_after},
    }
    if evaluate is not None:
        metrics = [evaluate(model) for model in (before, after)]
        report["accuracy"] = {name: {"before": metrics[0][name], "after": metrics[1][name]}
                              for name in metrics[0] if not name.endswith("loss")}
    if latency == "none" or input_shape is None:
        return report
    inputs = [example_input(input_shape, batch, input_dtype(m), torch.Generator().manual_seed(0))
              for m in (before, after)]
    modes = {"eager": [lambda m=m: m for m in (before, after)]}
    if latency == "compiled":
        modes["compiled"] = [lambda m=m: compiled(m) for m in (before, after)]
    report["latency"] = {"batch": batch, "repeats": repeats}
    for mode, makers in modes.items():
        runners = [maker() for maker in makers]
        with torch.no_grad():
            seconds = median_seconds_interleaved([lambda r=r, i=i: r(i) for r, i in zip(runners, inputs)], repeats)
        report["latency"][mode] = {"before_ms": seconds[0] * 1e3, "after_ms": seconds[1] * 1e3}
    return report
