"""Loading local safetensors weights into a timm backbone (the classifier's tensors in the file are ignored).

The check and the load are the host's (``flexzoo.plugin.helpers.load_weights_file``): the file is checked
from its header during the dry run, before anything is allocated, and every mismatch is named.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flexzoo.plugin.helpers import load_weights_file

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


def load_pretrained(model: nn.Module, path: str, *, strict: bool = True) -> None:
    """Check ``path`` against ``model`` and load it (only the check runs on the meta device)."""
    load_weights_file(model, path, strict=strict, ignore=_classifier_prefixes(model))
