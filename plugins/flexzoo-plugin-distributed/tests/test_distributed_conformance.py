"""The distributed plugin passes flexzoo's conformance kit: set up, wrap and tear down in one process."""

from __future__ import annotations

from flexzoo.testing import PluginConformance


class TestDistributedPlugin(PluginConformance):
    plugin = "flexzoo_plugin_distributed"
