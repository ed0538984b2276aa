"""The transformers plugin passes flexzoo's conformance kit: every signature, a text, an image and an audio encoder."""

from __future__ import annotations

from typing import ClassVar

from flexzoo.testing import PluginConformance

TINY = {"hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 32}


class TestTransformersPlugin(PluginConformance):
    plugin = "flexzoo_plugin_transformers"
    input_shape = (3, 32, 32)
    build = ("vit",)
    examples: ClassVar = {"backbone": {"vit": {**TINY, "patch_size": 8}}}
    heavy_modules = ("torch", "transformers", "numpy", "safetensors")


class TestTransformersTextEncoder(PluginConformance):
    """The kit runs a text encoder on token ids (its declared input_dtype), not on float noise."""

    plugin = "flexzoo_plugin_transformers"
    input_shape = (12,)
    build = ("bert",)
    examples: ClassVar = {"backbone": {"bert": {**TINY, "vocab_size": 32}}}


class TestTransformersAudioEncoder(PluginConformance):
    plugin = "flexzoo_plugin_transformers"
    input_shape = (800,)
    build = ("wav2vec2",)
    examples: ClassVar = {"backbone": {"wav2vec2": {**TINY, "config": {"conv_dim": [16, 16], "conv_stride": [5, 4],
                                                                        "conv_kernel": [10, 8],
                                                                        "num_conv_pos_embeddings": 8,
                                                                        "num_conv_pos_embedding_groups": 2}}}}
