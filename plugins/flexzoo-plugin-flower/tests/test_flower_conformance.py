"""The flower plugin passes flexzoo's conformance kit: signatures, and its strategy set up, used, torn down."""

from __future__ import annotations

from flexzoo.testing import PluginConformance


class TestFlowerPlugin(PluginConformance):
    plugin = "flexzoo_plugin_flower"
