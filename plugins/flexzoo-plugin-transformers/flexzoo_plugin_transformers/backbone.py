"""The backbone factory shared by every model type (cheap to import: transformers loads when called)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from flexzoo.plugin import ParameterError
from flexzoo.plugin.helpers import Positive, restoring_weights
from flexzoo_plugin_transformers.model_list import INPUTS, MODELS
from flexzoo_plugin_transformers.sizes import SIZE_KEYS

if TYPE_CHECKING:
    from torch import nn

Pool = Literal["auto", "mean", "first"]
Size = Positive | None


def backbone(
    model_type: str,
    input_shape: tuple[int, ...],
    pretrained: str | None = None,
    pool: Pool = "auto",
    hidden_size: Size = None,
    num_hidden_layers: Size = None,
    num_attention_heads: Size = None,
    intermediate_size: Size = None,
    vocab_size: Size = None,
    max_position_embeddings: Size = None,
    patch_size: Size = None,
    config: dict[str, Any] = {},  # noqa: B006 - never mutated; shown by `zoo info`
) -> nn.Module:
    """A transformers encoder built from its config (``AutoModel.from_config``): inputs to pooled features (B, F).

    Text models take token ids (B, L) (int64, or floats holding whole numbers); image models
    images (B, C, H, W), with num_channels and image_size taken from input_shape; audio models
    waveforms (B, T). Size keys the model type's config does not have are refused.

    Args:
        input_shape: one sample's shape, from [model] input_shape: (L,) tokens, (C, H, W) pixels or (T,) samples.
        pretrained: a Hub repository, "ORG/NAME[@REVISION]" or "hf-hub:ORG/NAME[@REVISION]" (config.json and
            model.safetensors, downloaded into the Hugging Face cache; none offline: HF_HUB_OFFLINE=1), or a
            local directory written by save_pretrained (also with shards and model.safetensors.index.json);
            its config must agree with this one.
        pool: "auto": the model's pooler output when it has one, else the mean of the last hidden state
            over tokens (or pixels); "mean": always that mean; "first": the first token's hidden state (CLS).
        hidden_size: the config's hidden_size (None: the model type's default).
        num_hidden_layers: the config's num_hidden_layers (None: default).
        num_attention_heads: the config's num_attention_heads; must divide hidden_size (None: default).
        intermediate_size: the config's intermediate_size (None: default).
        vocab_size: the config's vocab_size, for text models (None: default).
        max_position_embeddings: the config's max_position_embeddings; at least the sequence length (None: default).
        patch_size: the config's patch_size, for vision transformers (None: default).
        config: any other keys of the model type's config, e.g. { hidden_sizes = [8, 16], depths = [1, 1] }.
    """
    kind = MODELS.listing().details[model_type]
    _check_input_shape(kind, input_shape)
    sizes = {name: value for name, value in zip(SIZE_KEYS, (hidden_size, num_hidden_layers, num_attention_heads,
             intermediate_size, vocab_size, max_position_embeddings, patch_size)) if value is not None}
    twice = sorted(set(sizes) & set(config) | set(config) & set(SIZE_KEYS))
    if twice:
        raise ParameterError(f"config.{twice[0]}", "is a parameter of its own here",
                             f"set {twice[0]} directly in the [backbone] table")
    hf_config = make_config(model_type, kind, input_shape, sizes, config)
    from transformers import AutoModel

    from flexzoo_plugin_transformers.encoder import Encoder

    model = Encoder(AutoModel.from_config(hf_config), kind, pool)
    if pretrained is not None and not restoring_weights():  # flexzoo.load brings the weights itself
        from flexzoo_plugin_transformers.pretrained import load_reference

        load_reference(model.model, pretrained)
    return model


def _check_input_shape(kind: str, input_shape: tuple[int, ...]) -> None:
    rank = 3 if kind == "image" else 1
    if len(input_shape) != rank:
        expected = {"text": "(sequence length,)", "image": "(channels, height, width)", "audio": "(samples,)"}[kind]
        raise ParameterError("input_shape", f"must be {expected} for a {kind} model, which takes "
                             f"{INPUTS[kind]}; got {list(input_shape)}")


def make_config(model_type: str, kind: str, input_shape: tuple[int, ...], sizes: dict[str, int],
                config: dict[str, Any]) -> Any:
    """The model type's config with the manifest's keys and what input_shape implies; each key checked."""
    from transformers import AutoConfig

    default = AutoConfig.for_model(model_type)
    for name in [*sizes, *config]:
        if not hasattr(default, name):
            key = name if name in sizes else f"config.{name}"
            known = ", ".join(k for k in SIZE_KEYS if hasattr(default, k)) or "none"
            raise ParameterError(key, f"is not a setting of transformers' {model_type} config",
                                 f"leave it out; the size keys this model type has: {known}")
    values: dict[str, Any] = {**sizes, **config}
    if kind == "image":
        channels, height, width = input_shape
        if hasattr(default, "num_channels") and "num_channels" not in values:
            values["num_channels"] = channels
        if hasattr(default, "image_size") and "image_size" not in values:
            square = height == width and not isinstance(default.image_size, (list, tuple))
            values["image_size"] = height if square else [height, width]
    heads, hidden = (values.get(k, getattr(default, k, None)) for k in ("num_attention_heads", "hidden_size"))
    if isinstance(heads, int) and isinstance(hidden, int) and hidden % heads:
        key = "num_attention_heads" if "num_attention_heads" in sizes else "hidden_size"
        raise ParameterError(key, f"hidden_size {hidden} is not a multiple of num_attention_heads {heads}",
                             "make hidden_size a multiple of num_attention_heads")
    positions = values.get("max_position_embeddings", getattr(default, "max_position_embeddings", None))
    if kind == "text" and isinstance(positions, int) and input_shape[0] > positions:
        raise ParameterError("input_shape", f"{input_shape[0]} tokens are more than {model_type}'s "
                             f"max_position_embeddings ({positions})", "raise max_position_embeddings")
    try:
        return AutoConfig.for_model(model_type, **values)
    except Exception as exc:  # transformers' own validation: the host reports it at [backbone]
        raise ValueError(f"transformers refused the {model_type} config: {str(exc).strip().splitlines()[-1]}") from None
