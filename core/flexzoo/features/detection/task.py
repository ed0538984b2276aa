"""The detection task: the ``centernet`` loss on boxes, mAP, and boxes decoded for ``zoo predict`` (no torch here).

The builtin ``detection`` head declares it; a head that declares no task of its own takes it too (with
classification and regression), so any head returning the CenterNet layout trains with ``loss = "centernet"``.
"""

from __future__ import annotations

from flexzoo.plugin.tasks import HeadTask, lazy

__all__ = ["DETECTION"]

DETECTION = HeadTask(
    name="detection",
    losses=("centernet",),
    metrics={"map50": "max", "map": "max"},
    score=lazy("flexzoo.features.detection.training:detection_score"),
    decode=lazy("flexzoo.features.detection.decoding:boxes"),
)
