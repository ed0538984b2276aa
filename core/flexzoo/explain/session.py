"""The front door of an explanation: the explainer by name, its layer, the attributions and the sanity test."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from flexzoo.errors import FlexzooError
from flexzoo.explain.attribution import Explanation, attribute
from flexzoo.explain.explainers import make_explainer
from flexzoo.explain.layers import feature_map_layers, last_stage
from flexzoo.explain.sanity import randomization_test
from flexzoo.host.registry import did_you_mean

if TYPE_CHECKING:
    import numpy as np
    from torch import nn

    from flexzoo.host.registry import Registry
    from flexzoo.prediction.heads import HeadSpec

__all__ = ["explain"]


def _layer(layers: Mapping[str, str], wanted: str | None, method: str) -> str:
    if not layers:
        raise FlexzooError(f"{method} needs the backbone's declared feature maps, and this backbone declares none; "
                           "use integrated_gradients, saliency, occlusion or gradient_shap")
    if wanted is None:
        return list(layers.values())[-1]
    if wanted not in layers:
        raise FlexzooError(" ".join(filter(None, [
            f"the backbone declares no feature map `{wanted}`; its maps: {', '.join(layers)}",
            did_you_mean(wanted, layers)])))
    return layers[wanted]


def explain(model: nn.Module, batch: np.ndarray, manifest: Mapping[str, Any], heads: Mapping[str, HeadSpec],
            method: str = "integrated_gradients", settings: Mapping[str, Any] | None = None, *,
            head: str | None = None, target: str | int | Sequence[int] = "top", layer: str | None = None,
            sanity: bool = False, registry: Registry | None = None) -> Explanation:
    """Explain ``batch`` (model-ready) with the explainer ``method``; ``sanity`` adds the randomization test.

    :param manifest: the artifact's stored manifest (the backbone's factory tells where its feature maps are).
    :param layer: a declared feature map's name, for a method that needs one (default: the last map).
    """
    from flexzoo.host.registry import default_registry

    registry = registry or default_registry()
    name, explainer = make_explainer(method, settings or {}, registry)
    input_shape = tuple(batch.shape[1:])
    needs_maps = bool(getattr(explainer, "needs_feature_maps", False))
    layers = feature_map_layers(model, manifest, input_shape, registry) if needs_maps or sanity else {}
    module = _layer(layers, layer, name) if needs_maps else None
    explanation = attribute(model, batch, explainer, name, heads, head, target, module)
    if sanity:
        reset = [f"heads.{explanation.head}", last_stage(model, layers)]
        explanation.sanity = randomization_test(model, batch, explainer, explanation, heads, reset)
    return explanation
