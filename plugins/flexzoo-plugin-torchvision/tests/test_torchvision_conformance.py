"""The torchvision plugin passes flexzoo's conformance kit: every signature, and a CNN, a ViT and a RegNet run."""

from __future__ import annotations

from typing import ClassVar

from flexzoo.testing import HEAVY_MODULES, PluginConformance


class TestTorchvisionPlugin(PluginConformance):
    plugin = "flexzoo_plugin_torchvision"
    input_shape = (3, 32, 32)
    build = ("mobilenet_v3_small", "vit_b_32", "regnet_x_400mf")
    examples: ClassVar = {"backbone": {"vit_b_32": {"options": {"image_size": 32}}}}
    heavy_modules = (*HEAVY_MODULES, "torchvision")
