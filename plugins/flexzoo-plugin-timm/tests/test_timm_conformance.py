"""The timm plugin passes flexzoo's conformance kit: every signature, and a CNN and a ViT built and run."""

from __future__ import annotations

from typing import ClassVar

from flexzoo.testing import PluginConformance


class TestTimmPlugin(PluginConformance):
    plugin = "flexzoo_plugin_timm"
    input_shape = (3, 32, 32)
    build = ("resnet10t", "vit_tiny_patch16_224")
    examples: ClassVar = {"backbone": {"vit_tiny_patch16_224": {"img_size": 32}}}
