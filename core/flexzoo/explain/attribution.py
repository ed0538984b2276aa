"""One explainer run on a batch: which head, which target, what the attributions are and whether they add up.

The head's output is what is explained: its scores ``(B, K)``, or for a head with a score per position
(segmentation, ``(B, K, H, W)``) each class's mean score over the positions. The target is a class per
sample: the top-scoring one, or a label (name or index) given for all. An explainer with a
``baseline(inputs)`` member claims completeness; its gap is measured per sample as
``|Σ attributions − (f(x) − f(baseline))| / |f(x) − f(baseline)|`` and a gap above :data:`GAP_WARNING`
is worth more steps.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from flexzoo.errors import FlexzooError
from flexzoo.host.registry import did_you_mean

if TYPE_CHECKING:
    import torch
    from torch import nn

    from flexzoo.plugin.protocols import Explainer
    from flexzoo.prediction.heads import HeadSpec

__all__ = ["GAP_WARNING", "Explanation", "attribute", "head_forward", "resolve_targets"]

#: A completeness gap above this is reported as a warning (more integration steps shrink it).
GAP_WARNING = 1e-2


@dataclass
class Explanation:
    """Attributions of a batch for one head, one target per sample, with how they were made.

    ``attributions``: ``(B, *input_shape)`` or ``(B, 1, *spatial)``; ``scores``: each target's probability
    (classification) or raw score; ``completeness_gap``: per sample, for an explainer that claims it.
    """

    method: str
    head: str
    settings: dict[str, Any]
    attributions: np.ndarray
    targets: list[int]
    labels: list[str]
    scores: list[float]
    layer: str | None = None
    completeness_gap: list[float] | None = None
    completeness_change: list[float] | None = None  # per sample, |f(x) - f(baseline)| at its target
    sanity: dict[str, Any] | None = field(default=None)

    def gap_summary(self) -> dict[str, Any]:
        """The completeness gap of the batch (Σ|error| / Σ|change|), its median and worst sample.

        A sample whose score barely moves from the baseline has a large relative gap from a tiny error; the
        batch's gap weighs each sample by its change, and is the one checked against :data:`GAP_WARNING`.
        """
        assert self.completeness_gap is not None and self.completeness_change is not None
        gaps, changes = np.asarray(self.completeness_gap), np.asarray(self.completeness_change)
        batch = float((gaps * changes).sum() / max(changes.sum(), 1e-12))
        return {"batch": batch, "median": float(np.median(gaps)), "max": float(gaps.max()),
                "samples_above": int((gaps > GAP_WARNING).sum()), "warning": GAP_WARNING,
                "passed": batch <= GAP_WARNING}

    def summary(self) -> dict[str, Any]:
        """What the explanation says, JSON-ready (the attributions themselves are the ``.npy`` files)."""
        found: dict[str, Any] = {"method": self.method, "head": self.head, "settings": self.settings}
        if self.layer:
            found["layer"] = self.layer
        if self.completeness_gap is not None:
            found["completeness_gap"] = self.gap_summary()
        if self.sanity is not None:
            found["sanity"] = self.sanity
        return found


def head_forward(model: nn.Module, head: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """``x -> (B, K)``: the head's scores; a head with scores per position gives each class's mean over them."""

    def forward(x: torch.Tensor) -> torch.Tensor:
        output = model(x)[head]
        return output.flatten(2).mean(-1) if output.dim() > 2 else output

    return forward


def _check_head(heads: Mapping[str, HeadSpec], head: str | None) -> HeadSpec:
    if head is None:
        head = next(iter(heads))
    if head not in heads:
        raise FlexzooError(" ".join(filter(None, [f"unknown head `{head}`; the model's heads: {', '.join(heads)}",
                                                  did_you_mean(head, heads)])))
    spec = heads[head]
    if spec.kind == "detection":
        raise FlexzooError(f"head `{head}` is a detection head: its boxes cannot be attributed to the input; "
                           f"explain another head ({', '.join(h for h in heads if heads[h].kind != 'detection')})")
    return spec


def resolve_targets(spec: HeadSpec, scores: np.ndarray, target: str | int | Sequence[int] = "top") -> list[int]:
    """One class index per sample: the top-scoring class, the label (name or index) given, or one per sample."""
    classes = scores.shape[1]
    if isinstance(target, Sequence) and not isinstance(target, str):
        if len(target) != len(scores) or not all(0 <= int(t) < classes for t in target):
            raise FlexzooError(f"give one target in 0..{classes - 1} per sample ({len(scores)}), got {list(target)}")
        return [int(t) for t in target]
    if target == "top":
        return [int(i) for i in scores.argmax(1)]
    names = [spec.label(i) for i in range(classes)]
    if str(target) in names:
        index = names.index(str(target))
    elif str(target).lstrip("-").isdigit() and 0 <= int(target) < classes:
        index = int(target)
    else:
        shown = ", ".join(names[:20]) + (" ..." if classes > 20 else "")
        raise FlexzooError(" ".join(filter(None, [f"head `{spec.name}` has no label `{target}`; its labels: {shown} "
                                                  "(or `top`)", did_you_mean(str(target), names)])))
    return [index] * len(scores)


def attribute(model: nn.Module, batch: np.ndarray, explainer: Explainer, method: str,
              heads: Mapping[str, HeadSpec], head: str | None = None, target: str | int | Sequence[int] = "top",
              layer: str | None = None) -> Explanation:
    """Run ``explainer`` on ``batch`` (model-ready, ``(B, *input_shape)``) for one head and target.

    :param layer: the module name in ``model`` of the feature map an explainer that needs one is given.
    """
    import torch

    spec = _check_head(heads, head)
    if explainer.needs_feature_maps and layer is None:
        raise FlexzooError(f"{method} needs the backbone's feature maps, and this backbone declares none; "
                           "use a method that attributes the input itself (integrated_gradients, saliency, "
                           "occlusion, gradient_shap)")
    model.eval()
    forward = head_forward(model, spec.name)
    parameter = next(model.parameters(), None)
    device = parameter.device if parameter is not None else torch.device("cpu")
    inputs = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)).to(device)
    with torch.no_grad():
        scores = forward(inputs).float()
    targets = resolve_targets(spec, scores.cpu().numpy(), target)
    target_tensor = torch.tensor(targets, device=device)
    module = model.get_submodule(layer) if layer and explainer.needs_feature_maps else None
    with torch.enable_grad():
        values = explainer.attribute(forward, inputs.clone().requires_grad_(), target_tensor, module).detach()
    shown = scores.softmax(1) if spec.kind in ("classification", "segmentation") else scores
    explanation = Explanation(method, spec.name, dict(explainer.settings), values.float().cpu().numpy(), targets,
                              [spec.label(t) for t in targets],
                              [float(shown[i, t]) for i, t in enumerate(targets)],
                              layer if module is not None else None)
    baseline = getattr(explainer, "baseline", None)
    if baseline is not None:
        with torch.no_grad():
            start = forward(baseline(inputs)).float()
        rows = torch.arange(len(targets), device=device)
        change = (scores[rows, target_tensor] - start[rows, target_tensor]).double().cpu()
        total = values.flatten(1).double().sum(1).cpu()
        explanation.completeness_gap = ((total - change).abs() / change.abs().clamp_min(1e-12)).tolist()
        explanation.completeness_change = change.abs().tolist()
    return explanation
