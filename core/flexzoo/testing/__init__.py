"""The conformance kit: what the host relies on, checked in a plugin's own test suite.

Subclass :class:`PluginConformance` in a test module and pytest runs every check on every
component the plugin declares::

    from flexzoo.testing import PluginConformance

    class TestAcme(PluginConformance):
        plugin = "flexzoo_plugin_acme"
        examples = {"head": {"tiny": {"num_classes": 3}}}

Each kind's check holds its components to the kind's Protocol (``flexzoo.plugin.Backbone``, ``Head``,
``Initializer``, ``CompressionStep``, ``Strategy``) by running them as the host does: a strategy
through the trainer's whole sequence of calls, a compressor through a build, a save and a load.
A tracker (``flexzoo_trackers``) is run through real training runs (``check_tracker_component``); a plugin
that logs through the run hooks runs ``check_tracker`` and reads back what it logged.
The checks are plain functions too (``check_schema``, ``check_backbone``, ...), raising
``AssertionError`` with a message that says what to fix. Importing this module does not import torch.
"""

from __future__ import annotations

from flexzoo.testing.checks import (
    HEAVY_MODULES,
    check_backbone,
    check_component,
    check_compressor,
    check_dataset,
    check_explainer,
    check_head,
    check_initializer,
    check_listing_is_light,
    check_schema,
    check_strategy,
    plugin_components,
)
from flexzoo.testing.suite import PluginConformance
from flexzoo.testing.tracking import check_tracker, check_tracker_component, train_tracked

__all__ = [
    "HEAVY_MODULES",
    "PluginConformance",
    "check_backbone",
    "check_component",
    "check_compressor",
    "check_dataset",
    "check_explainer",
    "check_head",
    "check_initializer",
    "check_listing_is_light",
    "check_schema",
    "check_strategy",
    "check_tracker",
    "check_tracker_component",
    "plugin_components",
    "train_tracked",
]
