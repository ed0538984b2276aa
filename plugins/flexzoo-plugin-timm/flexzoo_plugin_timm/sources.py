"""Where timm's pretrained weights come from: timm's own ``pretrained_cfg`` and its Hugging Face repositories.

``pretrained = true`` is the architecture's default weights (the ``pretrained_cfg`` timm's registry
gives the bare name), a tag (``"a1_in1k"``) one of its other weights, ``"hf-hub:ORG/NAME[@REV]"`` a
repository in timm's layout (``model.safetensors`` and ``config.json``). The host fetches, locks and
verifies the files (``flexzoo_pretrained_source``); this module only says which they are, and what
preprocessing the weights' config declares.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flexzoo.plugin import ParameterError, PretrainedSource, WeightsFile
from flexzoo.plugin.helpers import HubReference, looks_like_path

WEIGHTS = "model.safetensors"
CONFIG = "config.json"
_PREPROCESSING = ("input_size", "interpolation", "crop_pct", "crop_mode", "mean", "std", "label_names")


def pretrained_source(model_name: str, reference: Any) -> PretrainedSource | None:
    """The source of a ``pretrained`` value; None for a local file (or no weights)."""
    if reference is None or reference is False or looks_like_path(reference):
        return None
    import timm

    library = f"timm {timm.__version__}"
    if isinstance(reference, str) and reference.startswith("hf-hub:"):
        try:
            hub = HubReference.parse(reference)
        except ValueError as exc:
            raise ParameterError("pretrained", str(exc)) from None
        return PretrainedSource(reference, (WeightsFile.on_hub(hub, WEIGHTS), WeightsFile.on_hub(hub, CONFIG)),
                                library=library)
    name = model_name if reference is True else f"{model_name}.{reference}"
    try:
        config = timm.models.get_pretrained_cfg(name, allow_unregistered=False)
    except RuntimeError:  # timm: "Invalid pretrained tag"
        config = None
    if config is None:
        tags = [n.partition(".")[2] for n in timm.list_pretrained(f"{model_name}.*")]
        raise ParameterError("pretrained", f"timm {timm.__version__} has no weights {reference!r} for {model_name}",
                             f"use true (the default), a tag of {model_name} ({', '.join(tags) or 'none'}), "
                             "`hf-hub:ORG/NAME` or the path of a .safetensors file")
    if not config.hf_hub_id:
        raise ParameterError("pretrained", f"timm's {name} weights are not on the Hugging Face Hub (only at "
                             f"{config.url})", "download the file yourself and give its path")
    repo_id, _, revision = config.hf_hub_id.partition("@")
    file = WeightsFile(config.hf_hub_filename or WEIGHTS, repo_id=repo_id, revision=revision or None)
    return PretrainedSource("true" if reference is True else str(reference), (file,),
                            preprocessing=registry_preprocessing(config.to_dict()), library=library)


def registry_preprocessing(config: Mapping[str, Any]) -> dict[str, Any]:
    """What a ``pretrained_cfg`` declares; ImageNet class names from timm's own tables where it names none."""
    found = {key: config[key] for key in _PREPROCESSING if config.get(key) is not None}
    if "label_names" not in found and config.get("num_classes"):
        from timm.data import ImageNetInfo, infer_imagenet_subset

        subset = infer_imagenet_subset(config)
        if subset:
            found["label_names"] = ImageNetInfo(subset).label_descriptions()
    return found


def hub_preprocessing(model_name: str, config: Mapping[str, Any]) -> dict[str, Any]:
    """What a timm repository's ``config.json`` declares; refuse one made for another architecture."""
    architecture = config.get("architecture")
    if architecture and architecture.partition(".")[0] != model_name:
        raise ParameterError("pretrained", f"the repository holds weights for timm's {architecture}, not {model_name}",
                             f"use timm:{architecture.partition('.')[0]}, or weights made for {model_name}")
    cfg = dict(config.get("pretrained_cfg") or {})
    if config.get("label_names"):
        cfg["label_names"] = config["label_names"]
    return {key: cfg[key] for key in _PREPROCESSING if cfg.get(key) is not None}
