"""Tiny settings for every listed model type: the [backbone] keys of a manifest that builds it in milliseconds."""

from __future__ import annotations

from typing import Any

SIZES = {"hidden_size": 16, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 32,
         "vocab_size": 64, "patch_size": 8}
#: Per model type: config keys beyond the size keys, and size keys the type takes differently.
EXTRA: dict[str, dict[str, Any]] = {
    "albert": {"config": {"embedding_size": 16}},
    "llama": {"config": {"num_key_value_heads": 2}},
    "mobilebert": {"config": {"embedding_size": 16, "true_hidden_size": 16, "intra_bottleneck_size": 16,
                              "num_feedforward_networks": 1}},
    "convnext": {"config": {"hidden_sizes": [8, 16], "depths": [1, 1]}},
    "convnextv2": {"config": {"hidden_sizes": [8, 16], "depths": [1, 1]}},
    "regnet": {"config": {"embedding_size": 8, "hidden_sizes": [8, 16], "depths": [1, 1], "groups_width": 8}},
    "resnet": {"config": {"embedding_size": 8, "hidden_sizes": [8, 16], "depths": [1, 1]}},
    "mobilenet_v2": {"config": {"depth_multiplier": 0.25, "min_depth": 4, "finegrained_output": False}},
    "yolos": {"config": {"num_detection_tokens": 2}},
}
AUDIO = {"conv_dim": [16, 16], "conv_stride": [5, 4], "conv_kernel": [10, 8], "num_conv_pos_embeddings": 8,
         "num_conv_pos_embedding_groups": 2}
INPUT_SHAPES = {"text": [12], "image": [3, 32, 32], "audio": [800]}


def tiny_keys(model_type: str, kind: str, has: Any) -> dict[str, Any]:
    """The [backbone] keys for ``model_type``: the size keys its config has (``has(name)``), and its extras."""
    keys: dict[str, Any] = {name: value for name, value in SIZES.items() if has(name)}
    extra = EXTRA.get(model_type, {})
    config = dict(extra.get("config", {}))
    if kind == "audio":
        config.update({k: v for k, v in AUDIO.items() if has(k)})
    if config:
        keys["config"] = config
    return keys
