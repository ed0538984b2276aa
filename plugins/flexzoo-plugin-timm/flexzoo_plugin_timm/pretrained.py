"""Loading pretrained weights into a timm backbone (the classifier's tensors in the file are ignored).

The weights are a local safetensors file, or a source of :mod:`flexzoo_plugin_timm.sources` that the
host fetches and checks (``flexzoo.plugin.fetch_pretrained``). The check and the load are the host's
(``flexzoo.plugin.helpers.load_weights_file``): the file is checked from its header during the dry run,
before anything is allocated, and every mismatch is named.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flexzoo.plugin.helpers import fetch_pretrained, load_weights_file
from flexzoo_plugin_timm.sources import CONFIG, hub_preprocessing, pretrained_source

if TYPE_CHECKING:
    from torch import nn


def _classifier_prefixes(model: nn.Module) -> tuple[str, ...]:
    """Module names of the classifier the backbone dropped (its tensors in a file are not unexpected)."""
    cfg = getattr(model, "pretrained_cfg", None) or getattr(getattr(model, "features", None), "pretrained_cfg", {})
    classifier = cfg.get("classifier") if isinstance(cfg, dict) else None
    names = classifier if isinstance(classifier, (list, tuple)) else [classifier] if classifier else []
    return tuple(f"{name}." for name in names)


def preprocessing(model: nn.Module) -> dict[str, Any] | None:
    """The ``mean``, ``std`` and ``interpolation`` of timm's ``pretrained_cfg``, as a Backbone declares them."""
    for module in model.modules():
        cfg = getattr(module, "pretrained_cfg", None)
        if isinstance(cfg, dict) and cfg.get("mean") and cfg.get("std"):
            return {"mean": list(cfg["mean"]), "std": list(cfg["std"]), "interpolation": cfg.get("interpolation")}
    return None



def load_pretrained(model: nn.Module, model_name: str, reference: str | bool, *, strict: bool = True) -> None:
    """Check the weights ``reference`` names against ``model`` and load them (only the check runs on meta).

    A repository's ``config.json`` must be for this architecture; the preprocessing it declares
    becomes the model's ``pretrained_cfg`` (what ``normalize = "auto"`` reads) and is recorded.
    """
    source = pretrained_source(model_name, reference)
    if source is None:
        load_weights_file(model, str(reference), strict=strict, ignore=_classifier_prefixes(model))
        return
    weights = fetch_pretrained(source)
    if any(file.filename == CONFIG for file in source.files):
        weights.describe(hub_preprocessing(model_name, weights.config(CONFIG)))
    load_weights_file(model, weights, strict=strict, ignore=_classifier_prefixes(model))
    for module in model.modules():
        if isinstance(getattr(module, "pretrained_cfg", None), dict):
            module.pretrained_cfg = {**module.pretrained_cfg, **weights.preprocessing}
            break
