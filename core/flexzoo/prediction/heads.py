"""What each head's output means, from the artifact: its task (``HeadSpec.kind``), labels, and answer per sample.

The card records each head's kind: the name of its task (:class:`~flexzoo.plugin.HeadTask`), whose
``decode`` makes the head's answer. A builtin kind (classification, segmentation, regression, detection)
is the builtin task; another is looked up among the tasks the head's component declares. An artifact
written before the card recorded kinds has them inferred as then: a head whose component has
``num_classes`` and whose loss (if any) is ``cross_entropy`` classifies (segmentation when its output has
more than one value per class), one trained with ``centernet`` detects, the others regress. Labels are the
card's ``heads.<name>.labels`` when recorded, else the class indices as text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from flexzoo.errors import ArtifactError, FlexzooError
from flexzoo.inputs.images import ImageGeometry
from flexzoo.plugin.tasks import HeadTask
from flexzoo.tasks import BUILTIN_TASKS, GENERIC, REGRESSION, kind_of

if TYPE_CHECKING:
    from flexzoo.host.registry import Registry

__all__ = ["HeadSpec", "describe", "head_specs"]


@dataclass(frozen=True)
class HeadSpec:
    name: str
    kind: str  # the head's task: "classification" | "segmentation" | "detection" | "regression" | a plugin's own
    output_shape: list[int]
    labels: list[str] | None = None
    input_size: tuple[int, int] | None = None  # a detection head's boxes are in these input pixels (height, width)
    task: HeadTask | None = field(default=None, compare=False, repr=False)  # None: the builtin task named `kind`

    def label(self, index: int) -> str:
        return self.labels[index] if self.labels and index < len(self.labels) else str(index)

    @property
    def head_task(self) -> HeadTask:
        """The task that decodes this head's output."""
        return self.task or BUILTIN_TASKS.get(self.kind, REGRESSION)


def head_specs(manifest: dict[str, Any], card: dict[str, Any], registry: Registry | None = None
               ) -> dict[str, HeadSpec]:
    """Each head's spec, in manifest order; ``registry`` finds a plugin's task (default: the installed plugins)."""
    train_heads = (manifest.get("train") or {}).get("heads") or {}
    input_shape = card.get("input_shape") or []
    specs = {}
    for name, head in card["heads"].items():
        params = manifest.get("heads", {}).get(name, {})
        kind = head.get("kind") or kind_of(GENERIC, params, (train_heads.get(name) or {}).get("loss"),
                                           head["output_shape"]).name
        task = None if kind in BUILTIN_TASKS else _declared_task(kind, name, params.get("use", ""), registry)
        labels = head.get("labels")
        specs[name] = HeadSpec(name, kind, list(head["output_shape"]),
                               [str(label) for label in labels] if labels else None,
                               tuple(input_shape[-2:]) if len(input_shape) == 3 else None, task)
    return specs


def _declared_task(kind: str, head: str, use: str, registry: Registry | None) -> HeadTask:
    from flexzoo.host.registry import default_registry

    registry = registry or default_registry()
    try:
        declared = registry.resolve("head", use).component.tasks
    except FlexzooError as exc:
        raise ArtifactError(f"head `{head}` is a `{kind}` head of component `{use}`, which cannot be found ({exc}); "
                            "install the plugin that made the artifact") from None
    for task in declared:
        if task.name == kind:
            return task
    raise ArtifactError(f"head `{head}` is a `{kind}` head, and its component `{use}` declares no such task "
                        f"(it declares {', '.join(t.name for t in declared) or 'none'}); install the plugin "
                        "version that made the artifact")


def describe(outputs: dict[str, np.ndarray], heads: dict[str, HeadSpec], top_k: int = 1,
             geometries: Sequence[ImageGeometry | None] | None = None) -> list[dict[str, Any]]:
    """Per sample, per head, what its task answers: the top-k labels with probabilities (classification), the
    class of each pixel with each label's pixel count (segmentation), the boxes found (detection: label, score,
    x1, y1, x2, y2, highest score first, those scoring at least
    :data:`~flexzoo.features.detection.decoding.BOX_THRESHOLD`), the values (regression), or a
    plugin task's own answer.

    A box is in the pixels of the image the sample was made of when its ``geometries`` entry says how the
    input maps back onto it, else in the model input's pixels."""
    count = len(next(iter(outputs.values())))
    results: list[dict[str, Any]] = [{} for _ in range(count)]
    for name, spec in heads.items():
        for result, answer in zip(results, spec.head_task.decode(outputs[name], spec, top_k, geometries),
                                  strict=True):
            result[name] = answer
    return results
