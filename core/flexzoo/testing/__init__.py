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

Tests written against the public surface build what they need from here rather than from the host's modules:

- :class:`Manifest` (and :func:`manifest`) writes a manifest from data: ``Manifest.digits(train={...}).write(path)``;
- :func:`registry_of` is the registry discovery would make from explicit plugins, without entry points
  (stevedore's ``make_test_instance``); :func:`registry_fixture` declares it as a module's ``registry`` fixture;
- :func:`load_training_data` is a manifest's ``[train]`` data as training reads it; :func:`read_artifact` what
  an artifact holds (manifest, info, card, hashes);
- ``flexzoo.testing.fixtures`` is a pytest plugin of shared fixtures (``registry``, ``manifest_file``,
  ``digits_manifest``): ``pytest_plugins = ["flexzoo.testing.fixtures"]`` in a ``conftest.py``.
"""

from __future__ import annotations

from flexzoo.testing.artifacts import read_artifact
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
from flexzoo.testing.data import load_training_data
from flexzoo.testing.manifests import Manifest, manifest, toml_text
from flexzoo.testing.registries import plugin_name, registry_fixture, registry_of
from flexzoo.testing.suite import PluginConformance
from flexzoo.testing.tracking import check_tracker, check_tracker_component, train_tracked

__all__ = [
    "HEAVY_MODULES",
    "Manifest",
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
    "load_training_data",
    "manifest",
    "plugin_components",
    "plugin_name",
    "read_artifact",
    "registry_fixture",
    "registry_of",
    "toml_text",
    "train_tracked",
]
