"""The backbone factory shared by every torchvision classification architecture (torch loads when called).

The backbone is torchvision's own model with the layer that makes the class logits replaced by an
identity, so it returns what that layer would have received: the pooled features, ``(B, F)``.
Which layer that is, and ``F``, are read from the built model (the last ``Linear`` or ``Conv2d``
with one output per class), not from a table.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from flexzoo.plugin import ParameterError
from flexzoo.plugin.helpers import restoring_weights

if TYPE_CHECKING:
    from torch import nn

#: The class count torchvision builds by default; the layer with this many outputs is the classifier.
CLASSES = 1000
#: Builder keywords the backbone sets itself: auxiliary classifiers do not fit a (B, F) backbone, and
#: passing init_weights says what torchvision would otherwise warn that it assumes.
BUILD_DEFAULTS: dict[str, dict[str, Any]] = {
    "googlenet": {"aux_logits": False, "init_weights": True},
    "inception_v3": {"aux_logits": False, "init_weights": True},
}
_RESERVED = ("weights", "progress", "num_classes", "aux_logits", "init_weights")
_UNEXPECTED_KEYWORD = re.compile(r"unexpected keyword argument '(\w+)'")


def backbone(
    model_name: str,
    input_shape: tuple[int, ...],
    pretrained: str | bool | None = None,
    pretrained_strict: bool = True,
    options: dict[str, Any] = {},  # noqa: B006 - never mutated; shown by `zoo info`
) -> nn.Module:
    """A torchvision classification architecture without its classifier: images (B, 3, H, W) to features (B, F).

    ``F`` is what the classifier took (512 for resnet18, 768 for vit_b_16), also given as the
    module's ``num_features``. Pretrained weights come from torchvision's ``Weights`` (into ``TORCH_HOME``),
    a Hub repository or a local file.

    Args:
        input_shape: one sample's shape (3, H, W), from [model] input_shape; torchvision models take RGB.
        pretrained: the weights to start from: true (the builder's Weights.DEFAULT), a weights name
            ("IMAGENET1K_V2"), "hf-hub:ORG/NAME[@REVISION]" (a model.safetensors state dict), or the path
            of a local .safetensors file (relative paths are from the working directory). Downloaded into
            TORCH_HOME or the Hugging Face cache (none offline: HF_HUB_OFFLINE=1); the classifier's
            tensors are ignored.
        pretrained_strict: refuse a file with missing, unexpected or misshapen tensors; when false,
            load the tensors that fit and warn about the rest.
        options: further keyword arguments of the torchvision builder, e.g. { image_size = 32 } for a ViT,
            { dropout = 0.1 }, { stochastic_depth_prob = 0.1 }; the builder checks them when the model is built.
    """
    if len(input_shape) != 3 or input_shape[0] != 3:
        raise ParameterError("input_shape", f"must be (3, height, width) for torchvision's {model_name}, got "
                             f"{list(input_shape)}", "torchvision's classification models take RGB images")
    clash = sorted(set(options) & set(_RESERVED))
    if clash:
        raise ParameterError(f"options.{clash[0]}", "is set by the backbone itself (weights come from `pretrained`, "
                             "and the classifier is removed)", f"remove {clash[0]} from options")
    model = _create(model_name, {**BUILD_DEFAULTS.get(model_name, {}), **options}, set(options))
    classifier = remove_classifier(model, model_name)
    if pretrained not in (None, False) and not restoring_weights():  # flexzoo.load brings the weights itself
        from flexzoo.plugin.helpers import fetch_pretrained, load_weights_file  # here: `zoo list` needs neither
        from flexzoo_plugin_torchvision.sources import pretrained_source

        source = pretrained_source(model_name, pretrained)
        weights = fetch_pretrained(source) if source is not None else str(pretrained)
        load_weights_file(model, weights, strict=pretrained_strict, ignore=(f"{classifier}.",))
    return model


def remove_classifier(model: nn.Module, model_name: str) -> str:
    """Replace the layer that makes the logits with an identity; set ``num_features``; return its name."""
    from torch import nn

    found = [(name, module) for name, module in model.named_modules()
             if (isinstance(module, nn.Linear) and module.out_features == CLASSES)
             or (isinstance(module, nn.Conv2d) and module.out_channels == CLASSES)]
    if not found:
        raise ParameterError("use", f"torchvision's {model_name} has no layer with {CLASSES} outputs to remove",
                             "it is not a classification model; report this to flexzoo-plugin-torchvision")
    name, layer = found[-1]
    parent, _, leaf = name.rpartition(".")
    setattr(model.get_submodule(parent), leaf, nn.Identity())
    model.num_features = layer.in_features if isinstance(layer, nn.Linear) else layer.in_channels
    return name


def _create(model_name: str, kwargs: dict[str, Any], from_options: set[str]) -> nn.Module:
    """The torchvision builder without weights; its refusals become parameter errors.

    The host's dry run builds on the meta device. RegNet's builders compute their stage widths with
    tensors, which cannot be read there: such a builder runs on the CPU and the model moves to meta.
    """
    import torch
    import torchvision

    try:
        builder = torchvision.models.get_model_builder(model_name)
    except ValueError as exc:
        raise ParameterError("use", f"torchvision {torchvision.__version__} has no architecture {model_name!r}",
                             "the plugin's model list is stale: reinstall flexzoo-plugin-torchvision") from exc
    try:
        try:
            return builder(weights=None, **kwargs)
        except NotImplementedError as exc:
            if torch.get_default_device().type != "meta" or "meta tensor" not in str(exc):
                raise
        with torch.device("cpu"):
            return builder(weights=None, **kwargs).to("meta")
    except TypeError as exc:
        match = _UNEXPECTED_KEYWORD.search(str(exc))
        if not match:
            raise
        name = match.group(1)
        raise ParameterError(f"options.{name}" if name in from_options else name,
                             f"is not an option of torchvision's {model_name}",
                             "remove it: this architecture's builder does not take it") from exc
