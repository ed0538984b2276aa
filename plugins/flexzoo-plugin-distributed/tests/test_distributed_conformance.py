"""The distributed plugin passes flexzoo's conformance kit: signatures, and each strategy set up, used, torn down."""

from __future__ import annotations

from flexzoo.testing import PluginConformance


class TestDistributedPlugin(PluginConformance):
    plugin = "flexzoo_plugin_distributed"
