"""Imports that plugins written against earlier layouts use keep working (plugin API 2, and API 1 until 0.3)."""

from __future__ import annotations

import importlib
import sys
import warnings

import pytest

# Every name a plugin of API 2 could import from flexzoo.plugin when API 2 was declared (flexzoo 0.2).
API_2_NAMES = [
    "IMAGE_SUFFIXES", "PLUGIN_API_VERSION", "ArtifactError", "Backbone", "Component", "CompressionStep",
    "DataDependentInitializer", "DataError", "DataSource", "Distillation", "FeatureMap", "FlexzooError",
    "GrowableBackbone", "Head", "Initializer", "Listing", "LocalTraining", "Model", "PackingStep", "ParameterError",
    "RestorableStep", "RunInfo", "ShippedList", "SingleProcess", "StepContext", "StepUnavailable", "Strategy",
    "TrainingData", "check_weights_file", "hookimpl", "load_weights_file", "release", "restoring_weights",
    "safetensors_shapes", "write_atomically",
]


def _fresh_import(name: str):
    sys.modules.pop(name, None)
    return importlib.import_module(name)


def test_an_acme_style_plugin_of_api_2_imports_every_name_it_could_from_flexzoo_plugin():
    namespace: dict = {}
    exec(f"from flexzoo.plugin import {', '.join(API_2_NAMES)}", namespace)
    assert [name for name in API_2_NAMES if namespace.get(name) is None] == []


def test_the_api_1_restoring_module_still_answers_and_warns_naming_the_new_place():
    with pytest.warns(DeprecationWarning, match=r"flexzoo\.restoring moved to flexzoo\.plugin\.restoring"):
        legacy = _fresh_import("flexzoo.restoring")
    from flexzoo.plugin import restoring_weights
    from flexzoo.plugin.restoring import weights_restored_afterwards

    assert legacy.restoring_weights is restoring_weights
    assert legacy.restoring_weights() is False
    with weights_restored_afterwards():
        assert legacy.restoring_weights() is True


def test_the_api_1_markers_and_errors_stay_where_api_1_plugins_found_them():
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        from flexzoo import Component, hookimpl
        from flexzoo.atomic import write_atomically
        from flexzoo.errors import ParameterError
    import flexzoo.plugin

    assert (Component, hookimpl, write_atomically, ParameterError) == (
        flexzoo.plugin.Component, flexzoo.plugin.hookimpl, flexzoo.plugin.write_atomically,
        flexzoo.plugin.ParameterError)
