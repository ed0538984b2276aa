"""The keras plugin passes flexzoo's conformance kit: every signature, a Sequential and an application built and run."""

from __future__ import annotations

from typing import ClassVar

from flexzoo.testing import PluginConformance


class TestKerasPlugin(PluginConformance):
    plugin = "flexzoo_plugin_keras"
    input_shape = (3, 32, 32)
    build = ("sequential", "MobileNetV3Small")
    examples: ClassVar = {"backbone": {"sequential": {"layers": [{"use": "Conv2D", "filters": 4, "kernel_size": 3},
                                                                 {"use": "GlobalMaxPooling2D"}]},
                                       "MobileNetV3Small": {"options": {"alpha": 0.75}}}}
    heavy_modules = ("torch", "keras", "numpy", "h5py")
