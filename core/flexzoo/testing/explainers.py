"""The conformance check of an explainer: it runs on a small CNN as ``zoo explain`` runs it."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from flexzoo.plugin.components import RegisteredComponent
from flexzoo.plugin.protocols import Explainer
from flexzoo.testing.inputs import BATCH, example_arguments

__all__ = ["check_explainer"]

#: One sample's shape for the explainer check: a small image.
IMAGE_INPUT = (1, 8, 8)


def _image_model() -> tuple[Any, dict[str, Any]]:
    """A builtin ``cnn`` with a ``linear`` head of 3 classes, and the manifest it was built from."""
    import torch

    from flexzoo.assembly.builder import ZooModel
    from flexzoo.builtin import backbones, heads

    manifest = {"backbone": {"use": "builtin:cnn", "channels": [4, 8]}, "heads": {"out": {"use": "linear"}}}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = ZooModel(backbones.cnn(IMAGE_INPUT, channels=[4, 8]), {"out": heads.linear(8, 3)})
    return model.eval(), manifest


def check_explainer(entry: RegisteredComponent, example: Mapping[str, Any] | None = None) -> None:
    """The explainer follows :class:`flexzoo.plugin.Explainer`: JSON settings, and attributions of the inputs'
    shape (or ``(B, 1, H, W)``), finite, for each sample's target; an explainer with ``baseline`` claims
    completeness, and its gap is finite. One that needs feature maps gets the cnn's last stage."""
    import numpy as np

    from flexzoo.explain.attribution import attribute
    from flexzoo.explain.layers import feature_map_layers
    from flexzoo.host.registry import default_registry
    from flexzoo.prediction.heads import HeadSpec

    where = entry.qualified_name
    explainer = entry.component.factory(**example_arguments(entry, example))
    assert isinstance(explainer, Explainer), f"{where} returned {type(explainer).__name__}; an explainer factory " \
        "must return an Explainer: `settings`, `needs_feature_maps` and `attribute(forward, inputs, target, layer)`"
    json.dumps(dict(explainer.settings))  # recorded beside each explanation: JSON only
    model, manifest = _image_model()
    layer = None
    if explainer.needs_feature_maps:
        layer = list(feature_map_layers(model, manifest, IMAGE_INPUT, default_registry()).values())[-1]
    batch = np.random.default_rng(0).random((BATCH, *IMAGE_INPUT), dtype=np.float32)
    heads = {"out": HeadSpec("out", "classification", [BATCH, 3])}
    found = attribute(model, batch, explainer, entry.name, heads, "out", [0, 2], layer)
    shape = found.attributions.shape
    assert shape in ((BATCH, *IMAGE_INPUT), (BATCH, 1, *IMAGE_INPUT[1:])), \
        f"{where}: attributions must have the inputs' shape {[BATCH, *IMAGE_INPUT]} (or [B, 1, H, W]), got " \
        f"{list(shape)}"
    assert np.isfinite(found.attributions).all(), f"{where}: attributions hold NaN or infinite values"
    if found.completeness_gap is not None:
        assert np.isfinite(found.completeness_gap).all(), f"{where}: the completeness gap is not finite"
