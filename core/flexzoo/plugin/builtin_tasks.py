"""The builtin head tasks, declared (no torch here): what a head component names in ``tasks=(...)``.

``CLASSIFICATION``, ``SEGMENTATION`` (classification per pixel), ``REGRESSION`` and ``DETECTION`` (CenterNet
boxes and mAP) are the tasks the builtin heads declare, and those a plugin head declares when it is one of
them (a segmentation head of a plugin declares ``SEGMENTATION``); a plugin is given them through
:mod:`flexzoo.plugin.helpers`. Each names its score and its decoding by module, loaded when a head trains or
predicts: :mod:`flexzoo.tasks.scores` and :mod:`flexzoo.tasks.decoding` for the first three,
:mod:`flexzoo.features.detection` for detection.
"""

from __future__ import annotations

from flexzoo.plugin.tasks import HeadTask, lazy

__all__ = ["CLASSIFICATION", "DETECTION", "REGRESSION", "SEGMENTATION"]

_CLASS_METRICS = {"accuracy": "max", "macro_f1": "max", "miou": "max"}

#: One class per sample: ``cross_entropy``, accuracy, macro F1 and mIoU; the top-k labels answered.
CLASSIFICATION = HeadTask(
    name="classification",
    losses=("cross_entropy",),
    metrics=_CLASS_METRICS,
    default_metrics=("accuracy", "macro_f1"),
    score=lazy("flexzoo.tasks.scores:classification"),
    decode=lazy("flexzoo.tasks.decoding:classes"),
)

#: Classification per pixel: the same loss and metrics, over pixels; each pixel's class answered.
SEGMENTATION = HeadTask(
    name="segmentation",
    losses=("cross_entropy",),
    metrics=_CLASS_METRICS,
    default_metrics=("accuracy", "macro_f1"),
    score=lazy("flexzoo.tasks.scores:classification"),
    decode=lazy("flexzoo.tasks.decoding:mask"),
)

#: Values per sample: ``mse``, ``mae`` or ``smooth_l1``; mse and mae; the values answered.
REGRESSION = HeadTask(
    name="regression",
    losses=("mse", "mae", "smooth_l1"),
    metrics={"mse": "min", "mae": "min"},
    score=lazy("flexzoo.tasks.scores:regression"),
    decode=lazy("flexzoo.tasks.decoding:values"),
)

#: Boxes: the ``centernet`` loss on ``[N, 5]`` box targets, mAP, boxes decoded for ``zoo predict``.
DETECTION = HeadTask(
    name="detection",
    losses=("centernet",),
    metrics={"map50": "max", "map": "max"},
    score=lazy("flexzoo.features.detection.training:detection_score"),
    decode=lazy("flexzoo.features.detection.decoding:boxes"),
)
