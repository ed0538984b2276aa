"""Imports that plugins written against earlier layouts use keep working (plugin API 2, and API 1 until 0.3)."""

from __future__ import annotations

import importlib
import sys
import warnings

import pytest

import flexzoo.plugin
from flexzoo.plugin import helpers

# Every name a plugin of API 2 could import from flexzoo.plugin when API 2 was declared (flexzoo 0.2).
API_2_NAMES = [
    "IMAGE_SUFFIXES", "PLUGIN_API_VERSION", "ArtifactError", "Backbone", "Component", "CompressionStep",
    "DataDependentInitializer", "DataError", "DataSource", "Distillation", "FeatureMap", "FlexzooError",
    "GrowableBackbone", "Head", "Initializer", "Listing", "LocalTraining", "Model", "PackingStep", "ParameterError",
    "RestorableStep", "RunInfo", "ShippedList", "SingleProcess", "StepContext", "StepUnavailable", "Strategy",
    "TrainingData", "check_weights_file", "hookimpl", "load_weights_file", "release", "restoring_weights",
    "safetensors_shapes", "write_atomically",
]
#: Contracts flexzoo.plugin gained in 0.3 (the explainer and tracker kinds, pretrained sources, head tasks).
NEW_CONTRACTS = ["Explainer", "HeadTask", "PretrainedSource", "Tracker", "WeightsFile"]
HELPERS = ["IMAGE_SUFFIXES", "Listing", "ShippedList", "check_weights_file", "load_weights_file", "release",
           "restoring_weights", "safetensors_shapes", "write_atomically"]


def _fresh_import(name: str):
    sys.modules.pop(name, None)
    return importlib.import_module(name)


def test_an_acme_style_plugin_of_api_2_imports_every_name_it_could_from_flexzoo_plugin():
    namespace: dict = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        exec(f"from flexzoo.plugin import {', '.join(API_2_NAMES)}", namespace)
    assert [name for name in API_2_NAMES if namespace.get(name) is None] == []


@pytest.mark.parametrize("name", HELPERS)
def test_a_helper_imported_from_its_old_place_warns_naming_the_new_one_and_is_the_same_object(name):
    with pytest.warns(DeprecationWarning, match=rf"flexzoo\.plugin\.{name} moved to flexzoo\.plugin\.helpers\.{name}"):
        namespace: dict = {}
        exec(f"from flexzoo.plugin import {name}", namespace)
    assert namespace[name] is getattr(helpers, name)


def test_the_api_version_is_no_longer_offered_to_plugins_but_still_answers_with_a_warning():
    with pytest.warns(DeprecationWarning, match=r"FLEXZOO_PLUGIN_API = 2 in your plugin module"):
        version = flexzoo.plugin.PLUGIN_API_VERSION
    assert version == flexzoo.PLUGIN_API_VERSION
    assert "PLUGIN_API_VERSION" not in flexzoo.plugin.__all__


def test_the_contracts_import_without_a_warning():
    contracts = [name for name in API_2_NAMES if name not in HELPERS and name != "PLUGIN_API_VERSION"] + NEW_CONTRACTS
    assert sorted(contracts) == sorted(name for name in flexzoo.plugin.__all__ if name != "helpers")
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        exec(f"from flexzoo.plugin import {', '.join(contracts)}", {})
        exec(f"from flexzoo.plugin.helpers import {', '.join(helpers.__all__)}", {})


def test_an_unknown_name_is_still_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'Backbones'"):
        flexzoo.plugin.Backbones  # noqa: B018


def test_the_range_aliases_are_constraints_the_static_check_reads():
    from flexzoo.manifest.constraints import describe, violations

    def problems(value, annotation):
        return violations(value, annotation, "width", lambda value, branch: True)

    assert [describe(a) for a in (helpers.Positive, helpers.NonNegative, helpers.PositiveFloat, helpers.Probability,
                                  helpers.Sizes)] == ["> 0", ">= 0", "> 0", "in [0, 1)", "non-empty; each item > 0"]
    assert problems(0, helpers.Positive) == ["`width` must be > 0, got 0"]
    assert problems(1.0, helpers.Probability) == ["`width` must be in [0, 1), got 1.0"]
    assert problems([8, 0], helpers.Sizes) == ["`width[1]` must be > 0, got 0"]
    assert problems([8, 16], helpers.Sizes) == problems(0, helpers.NonNegative) == []


def test_the_api_1_restoring_module_still_answers_and_warns_naming_the_new_place():
    with pytest.warns(DeprecationWarning, match=r"flexzoo\.restoring moved to flexzoo\.plugin\.restoring"):
        legacy = _fresh_import("flexzoo.restoring")
    from flexzoo.plugin.restoring import weights_restored_afterwards

    assert legacy.restoring_weights is helpers.restoring_weights
    assert legacy.restoring_weights() is False
    with weights_restored_afterwards():
        assert legacy.restoring_weights() is True


def test_the_api_1_markers_and_errors_stay_where_api_1_plugins_found_them():
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        from flexzoo import Component, hookimpl
        from flexzoo.atomic import write_atomically
        from flexzoo.errors import ParameterError

    assert (Component, hookimpl, write_atomically, ParameterError) == (
        flexzoo.plugin.Component, flexzoo.plugin.hookimpl, helpers.write_atomically, flexzoo.plugin.ParameterError)
