"""The builtin head tasks, and how a head's task is found (no torch here).

A head's component declares the tasks it can be trained for (``Component(..., tasks=(...))``, a
:class:`~flexzoo.plugin.HeadTask` each); ``[train.heads.<name>] loss`` picks one of them, the first by
default. A head that declares none takes :data:`GENERIC`: classification (``cross_entropy``), regression
(``mse``, ``mae``, ``smooth_l1``) and detection (``centernet``, :mod:`flexzoo.features.detection`), as
every head did before heads declared tasks; such a head, trained for classification, that returns more
than one value per class reads as a segmentation head.

The scores are in :mod:`flexzoo.tasks.scores` (torch), the answers in :mod:`flexzoo.tasks.decoding` (numpy);
both are imported when a head trains or predicts, not here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from flexzoo.errors import FlexzooError
from flexzoo.plugin.builtin_tasks import CLASSIFICATION, DETECTION, REGRESSION, SEGMENTATION
from flexzoo.plugin.tasks import HeadTask

if TYPE_CHECKING:
    from flexzoo.host.registry import Registry

__all__ = ["BUILTIN_TASKS", "CLASSIFICATION", "DETECTION", "GENERIC", "REGRESSION", "SEGMENTATION",
           "describe_tasks", "higher_is_better", "kind_of", "losses", "task_for", "tasks_of"]

#: The tasks of a head whose component declares none.
GENERIC: tuple[HeadTask, ...] = (CLASSIFICATION, REGRESSION, DETECTION)

#: The builtin tasks by name (the kinds an artifact's card records for builtin heads).
BUILTIN_TASKS: dict[str, HeadTask] = {task.name: task for task in (CLASSIFICATION, SEGMENTATION, REGRESSION,
                                                                     DETECTION)}


def tasks_of(registry: Registry, use: str) -> tuple[HeadTask, ...]:
    """The tasks the head component ``use`` declares, or :data:`GENERIC` (also when it cannot be resolved)."""
    try:
        declared = registry.resolve("head", use).component.tasks
    except FlexzooError:  # unknown, or ambiguous: validation reports it
        return GENERIC
    return tuple(declared) or GENERIC


def task_for(tasks: Sequence[HeadTask], loss: str | None) -> HeadTask | None:
    """The first of ``tasks`` that accepts ``loss`` (None: the first task), or None when none does."""
    if loss is None:
        return tasks[0]
    return next((task for task in tasks if loss in task.losses), None)


def kind_of(tasks: Sequence[HeadTask], params: Mapping[str, Any], loss: str | None,
            output_shape: Sequence[int] | None) -> HeadTask:
    """The task a head's output reads as (recorded in the card as its kind, decoding its predictions).

    A head that declares tasks: the one its loss picks (its first without one). A head that declares
    none reads as heads did before tasks were declared: ``centernet`` detects; a head without
    ``num_classes``, or trained with a regression loss, regresses; otherwise it classifies, per pixel
    (segmentation) when it returns more than one value per class.
    """
    if tasks is not GENERIC:
        return task_for(tasks, loss) or tasks[0]
    if loss in DETECTION.losses:
        return DETECTION
    if "num_classes" not in params or loss in REGRESSION.losses:
        return REGRESSION
    return SEGMENTATION if output_shape is not None and len(output_shape) > 2 else CLASSIFICATION


def losses(tasks: Sequence[HeadTask]) -> list[str]:
    """Every loss of ``tasks``, in order."""
    return list(dict.fromkeys(loss for task in tasks for loss in task.losses))


def higher_is_better(metric: str, tasks: Sequence[HeadTask] = ()) -> bool:
    """Whether ``metric`` (``<head>.<metric>`` or a bare name) improves upwards, by ``tasks`` or the builtin ones."""
    name = metric.rpartition(".")[2]
    return any(task.higher_is_better(name) for task in (*tasks, *BUILTIN_TASKS.values()))


def describe_tasks(tasks: Sequence[HeadTask]) -> str:
    """``cross_entropy (classification); mse, mae, smooth_l1 (regression)`` for a message."""
    return "; ".join(f"{', '.join(task.losses)} ({task.name})" for task in tasks)
