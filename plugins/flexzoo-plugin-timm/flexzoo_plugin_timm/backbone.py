"""The backbone factory shared by every timm architecture (cheap to import: timm loads when called)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Literal

from flexzoo.plugin import ParameterError
from flexzoo.plugin.helpers import restoring_weights

if TYPE_CHECKING:
    from torch import nn

FeaturePool = Literal["avg", "max"]
Returns = Literal["pooled", "maps"]
_UNEXPECTED_KEYWORD = re.compile(r"unexpected keyword argument '(\w+)'")


def backbone(
    model_name: str,
    input_shape: tuple[int, ...],
    pretrained: str | bool | None = None,
    pretrained_strict: bool = True,
    in_chans: int | None = None,
    drop_rate: float = 0.0,
    drop_path_rate: float | None = None,
    global_pool: str | None = None,
    img_size: int | list[int] | None = None,
    features_only: bool = False,
    out_indices: list[int] | None = None,
    feature_pool: FeaturePool = "avg",
    options: dict[str, Any] = {},  # noqa: B006 - never mutated; shown by `zoo info`
    returns: Returns = "pooled",
) -> nn.Module:
    """A timm architecture without its classifier: images (B, C, H, W) to features (B, F).

    With ``features_only``, the stages named by ``out_indices`` are each pooled to (B, C_i) and
    concatenated, so heads receive (B, sum of C_i): several scales in one feature vector. Heads that
    take feature maps (segmentation) receive the stages' maps instead, unpooled.

    Args:
        input_shape: one sample's shape (C, H, W), from [model] input_shape.
        pretrained: the weights to start from: true (the architecture's default weights, as timm's
            pretrained_cfg names them), a tag ("a1_in1k"), "hf-hub:ORG/NAME[@REVISION]", or the path of a
            local .safetensors file (relative paths are from the working directory). Downloaded into the
            Hugging Face cache (none offline: HF_HUB_OFFLINE=1); the classifier's tensors are ignored.
        pretrained_strict: refuse a file with missing, unexpected or misshapen tensors; when false,
            load the tensors that fit and warn about the rest.
        in_chans: input channels; defaults to input_shape's first entry, and must equal it when given.
        drop_rate: dropout before the (removed) classifier, as timm applies it to the pooled features.
        drop_path_rate: stochastic depth rate, for architectures that have it (None: timm's default).
        global_pool: timm's pooling type, e.g. "avg", "max", "avgmax", "token" (None: the model's default).
        img_size: input size for architectures built for one size (ViTs, Swin); others refuse it.
        features_only: take features from several stages instead of the last pooled one.
        out_indices: the stages to take with features_only (None: every stage).
        feature_pool: how each stage is pooled with features_only.
        options: further keyword arguments for timm.create_model; timm checks them when the model is built.
        returns: "pooled" features, or the stages' "maps" with features_only (set by the host from the heads).
    """
    if len(input_shape) != 3:
        raise ParameterError("input_shape", f"must be (channels, height, width) for timm, got {list(input_shape)}")
    if in_chans is not None and in_chans != input_shape[0]:
        raise ParameterError("in_chans", f"is {in_chans} but input_shape has {input_shape[0]} channels",
                             "leave in_chans out: it defaults to input_shape's first entry")
    if not 0.0 <= drop_rate < 1.0:
        raise ParameterError("drop_rate", f"must be in [0, 1), got {drop_rate}")
    if drop_path_rate is not None and not 0.0 <= drop_path_rate < 1.0:
        raise ParameterError("drop_path_rate", f"must be in [0, 1), got {drop_path_rate}")
    if out_indices is not None and not features_only:
        raise ParameterError("out_indices", "only applies with features_only = true", "add features_only = true")
    if returns == "maps" and not features_only:
        raise ParameterError("features_only", "must be true to return feature maps", "add features_only = true "
                             "(and out_indices = [...] to choose the stages)")
    if features_only and global_pool is not None:
        raise ParameterError("global_pool", "does not apply with features_only = true", "use feature_pool instead")
    kwargs: dict[str, Any] = {"in_chans": input_shape[0], "drop_rate": drop_rate}
    for name, value in (("drop_path_rate", drop_path_rate), ("global_pool", global_pool), ("img_size", img_size)):
        if value is not None:
            kwargs[name] = tuple(value) if isinstance(value, list) else value
    if features_only:
        kwargs["features_only"] = True
        if out_indices is not None:
            kwargs["out_indices"] = tuple(out_indices)
    clash = sorted(set(options) & {*kwargs, "num_classes", "pretrained", "features_only", "out_indices"})
    if clash:
        raise ParameterError("options", f"sets {', '.join(clash)}, which are parameters of their own here",
                             f"set {clash[0]} directly in the [backbone] table")
    model = _create(model_name, {**kwargs, **options}, set(options))
    if features_only:
        from flexzoo_plugin_timm.layers import PooledStages

        model = PooledStages(model, feature_pool, maps=returns == "maps")
    from flexzoo_plugin_timm.pretrained import load_pretrained, preprocessing

    if pretrained not in (None, False) and not restoring_weights():  # flexzoo.load brings the weights itself
        load_pretrained(model, model_name, pretrained, strict=pretrained_strict)  # may update pretrained_cfg
    model.preprocessing = preprocessing(model)  # what normalize = "auto" reads (flexzoo.plugin.Backbone)
    return model


def _create(model_name: str, kwargs: dict[str, Any], from_options: set[str]) -> nn.Module:
    """timm.create_model without a classifier, offline; its refusals become parameter errors."""
    import timm

    try:
        return timm.create_model(model_name, pretrained=False, num_classes=0, **kwargs)
    except TypeError as exc:
        match = _UNEXPECTED_KEYWORD.search(str(exc))
        if not match:
            raise
        name = match.group(1)
        key = f"options.{name}" if name in from_options else name
        raise ParameterError(key, f"is not an option of timm's {model_name}",
                             "remove it: this architecture does not take it") from exc
    except RuntimeError as exc:
        if str(exc).startswith("Unknown model"):
            raise ParameterError("use", f"timm {timm.__version__} has no architecture {model_name!r}",
                                 "the plugin's model list is stale: reinstall flexzoo-plugin-timm") from exc
        raise
