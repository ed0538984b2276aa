"""The host's own plugin passes the conformance kit it offers third parties."""

from __future__ import annotations

from typing import ClassVar

from flexzoo.testing import PluginConformance


class TestBuiltin(PluginConformance):
    plugin = "flexzoo.builtin"
    input_shape = (1, 8, 8)
    examples: ClassVar = {"head": {"linear": {"num_classes": 3}, "mlp": {"num_classes": 3, "hidden": [4]}},
                "initializer": {"constant": {"value": 0.5}}}
