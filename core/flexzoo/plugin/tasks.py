"""``HeadTask``: what a head is trained for, declared by its component (``Component(..., tasks=(...))``).

A task names the ``[train.heads.<name>] loss`` values it accepts and the metrics it reports, and gives
the two functions the host calls: ``score``, which makes the head's loss and metric sums for a training
run, and ``decode``, which turns the head's output into the answer of ``zoo predict``, ``Predictor`` and
``zoo serve``. The builtin tasks (classification, segmentation, regression in :mod:`flexzoo.tasks`,
detection in :mod:`flexzoo.features.detection`) are declared the same way. No torch here: ``score`` and
``decode`` import what they need when called.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["HeadTask"]

#: How a metric improves: ``"max"`` (accuracy) or ``"min"`` (an error).
DIRECTIONS = ("max", "min")


@dataclass(frozen=True)
class HeadTask:
    """A head's task: its losses and metrics, how they are computed, and how its output reads.

    :param name: the task's name, recorded in the artifact card as the head's kind (``HeadSpec.kind``,
        the ``kind`` of a served head); a plugin's task takes a name of its own, not a builtin task's.
    :param losses: the ``loss`` values ``[train.heads.<name>]`` accepts; the first is the default of a
        head whose first task this is.
    :param metrics: each metric a head may report (``metrics = [...]``) -> ``"max"`` when higher is
        better, ``"min"`` when lower is (early stopping's ``mode = "auto"`` and ``zoo tune`` read it).
    :param score: ``score(head, output, target, input_size)`` -> the head's score for a training run,
        called once per run with the head's settings (``head.name``, ``.loss``, ``.metrics``, ``.target``,
        ``.weight``), its output and the whole target on a sample batch (check them here: raise
        ``ParameterError("target", message, fix)``, or ``"loss"``, ``"metrics"``, or a parameter of the
        head's component, and the host reports it at that manifest key), and the inputs' ``(height,
        width)`` when they are images, else None. The score answers:

        - ``target_of(targets, like)``: the batch's target (``targets[head.target]``) as ``loss`` and
          ``sums`` take it, on ``like``'s device;
        - ``loss(output, target, denominator, weight=1.0)``: the loss summed over the samples given, times
          ``weight / denominator`` (ranks holding unequal parts of a batch then add up);
        - ``sums_size`` and ``sums(output, target)``: a float64 vector of that size that validation adds
          over batches and over ranks (an all-reduce), so a metric must be computable from sums;
        - ``metrics(sums, count)``: ``{metric: value}`` for ``head.metrics`` from the added sums over
          ``count`` samples;
        - ``reset()``: start a validation pass (a score that collects instead of summing forgets here).
    :param decode: ``decode(output, head, top_k, geometries)`` -> one JSON-able answer per sample, from the
        head's output for a batch (a numpy array); ``head`` is its :class:`~flexzoo.prediction.HeadSpec`
        (``labels``, ``output_shape``, ``input_size``), ``top_k`` what the user asked for, ``geometries``
        per sample how an image maps onto the input (or None).
    :param default_metrics: the metrics reported when ``metrics`` is not given; default: all of them.
    """

    name: str
    losses: tuple[str, ...]
    metrics: Mapping[str, str]
    score: Callable[..., Any] = field(compare=False, repr=False)
    decode: Callable[..., list[dict[str, Any]]] = field(compare=False, repr=False)
    default_metrics: tuple[str, ...] | None = None

    @property
    def defaults(self) -> tuple[str, ...]:
        """The metrics a head reports when ``metrics`` is not given."""
        return tuple(self.metrics) if self.default_metrics is None else self.default_metrics

    def higher_is_better(self, metric: str) -> bool:
        return self.metrics.get(metric) == "max"


def lazy(path: str) -> Callable[..., Any]:
    """A function that imports ``"module:function"`` when first called, so that a task declared in a module
    without torch (read by ``zoo validate --static``) reaches its torch code only when it trains or predicts."""
    module, _, name = path.partition(":")
    loaded: list[Callable[..., Any]] = []

    def call(*args: Any, **kwargs: Any) -> Any:
        if not loaded:
            import importlib

            loaded.append(getattr(importlib.import_module(module), name))
        return loaded[0](*args, **kwargs)

    call.__name__ = name
    call.__qualname__ = path
    return call
