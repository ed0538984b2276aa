"""Where torchvision's pretrained weights come from: its ``Weights`` enums (files under ``TORCH_HOME``).

``pretrained = true`` is the builder's ``Weights.DEFAULT``, ``"IMAGENET1K_V2"`` (or
``"ResNet50_Weights.IMAGENET1K_V2"``) a member of its enum; ``"hf-hub:ORG/NAME[@REV]"`` a repository
holding the state dict as ``model.safetensors``. The host fetches, locks and verifies the files
(``flexzoo_pretrained_source``); the preprocessing is the one the weights declare
(``Weights.transforms()`` and ``meta["categories"]``).
"""

from __future__ import annotations

from typing import Any

from flexzoo.plugin import ParameterError, PretrainedSource, WeightsFile
from flexzoo.plugin.helpers import HubReference, looks_like_path

WEIGHTS = "model.safetensors"


def pretrained_source(model_name: str, reference: Any) -> PretrainedSource | None:
    """The source of a ``pretrained`` value; None for a local file (or no weights)."""
    if reference is None or reference is False or looks_like_path(reference):
        return None
    import torchvision

    library = f"torchvision {torchvision.__version__}"
    if isinstance(reference, str) and reference.startswith("hf-hub:"):
        try:
            hub = HubReference.parse(reference)
        except ValueError as exc:
            raise ParameterError("pretrained", str(exc)) from None
        return PretrainedSource(reference, (WeightsFile.on_hub(hub, WEIGHTS),), library=library)
    weights = _member(model_name, reference, torchvision.models.get_model_weights(model_name))
    return PretrainedSource("true" if reference is True else str(reference), (WeightsFile.from_url(weights.url),),
                            preprocessing=declared_preprocessing(weights), library=library)


def _member(model_name: str, reference: Any, enum: Any) -> Any:
    if reference is True:
        return enum.DEFAULT
    name = str(reference)
    prefix, dot, member = name.partition(".")
    if dot and prefix == enum.__name__:
        name = member
    if name in enum.__members__:
        return enum[name]
    names = ", ".join(n for n in enum.__members__ if n != "DEFAULT")
    raise ParameterError("pretrained", f"torchvision's {model_name} has no weights {reference!r} in {enum.__name__}",
                         f"use true (the default) or one of {names}; or `hf-hub:ORG/NAME`, or a .safetensors path")


def declared_preprocessing(weights: Any) -> dict[str, Any]:
    """Mean, std, crop and resize sizes, interpolation and class names, as the weights declare them."""
    transform = weights.transforms()
    found: dict[str, Any] = {}
    crop = getattr(transform, "crop_size", None)
    if crop:
        found["input_size"] = [3, crop[0], crop[-1]]
    if getattr(transform, "resize_size", None):
        found["resize_size"] = list(transform.resize_size)
    if getattr(transform, "interpolation", None) is not None:
        found["interpolation"] = transform.interpolation.value
    for key in ("mean", "std"):
        if getattr(transform, key, None) is not None:
            found[key] = [float(v) for v in getattr(transform, key)]
    if weights.meta.get("categories"):
        found["label_names"] = list(weights.meta["categories"])
    return found
