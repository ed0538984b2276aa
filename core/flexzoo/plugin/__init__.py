"""What a plugin may import from flexzoo: this module, :mod:`flexzoo.plugin.helpers`, ``flexzoo.testing``.

This module holds the contracts: the hook marker, the component declaration, the errors the host
reports, each kind's typed Protocol, a head's task (``HeadTask``: its losses, metrics and decoding), the
step context, the run a tracker hears about, and where a
backbone's pretrained weights come from (``PretrainedSource`` of ``WeightsFile``, the answer to
``flexzoo_pretrained_source``). The helpers the
host offers (parameter annotations such as ``Positive``, weights files, atomic writes, shipped
lists) are one namespace, :mod:`flexzoo.plugin.helpers`. Both are plugin API 2 (``FLEXZOO_PLUGIN_API = 2``);
every other module of flexzoo is internal and may change in any release. Importing this module does
not import torch. docs/plugins.md documents each name.

    from flexzoo.plugin import Component, ParameterError, StepContext, hookimpl
    from flexzoo.plugin.helpers import Positive, restoring_weights

The helpers were importable from here until flexzoo 0.2; they still are, with a DeprecationWarning
naming their new place, until flexzoo 0.3.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing
if TYPE_CHECKING:
    from flexzoo.errors import ArtifactError, DataError, FlexzooError, ParameterError
    from flexzoo.hub.sources import PretrainedSource, WeightsFile
    from flexzoo.plugin import helpers
    from flexzoo.plugin.components import Component
    from flexzoo.plugin.hookspecs import hookimpl
    from flexzoo.plugin.protocols import (
        Backbone,
        CompressionStep,
        DataDependentInitializer,
        DataSource,
        Explainer,
        FeatureMap,
        GrowableBackbone,
        Head,
        Initializer,
        LocalTraining,
        Model,
        PackingStep,
        RestorableStep,
        Strategy,
        Tracker,
    )
    from flexzoo.plugin.single_process import SingleProcess
    from flexzoo.plugin.steps import Distillation, StepContext, StepUnavailable, TrainingData
    from flexzoo.plugin.tasks import HeadTask
    from flexzoo.plugin.tracking import RunInfo

__all__ = [
    "ArtifactError",
    "Backbone",
    "Component",
    "CompressionStep",
    "DataDependentInitializer",
    "DataError",
    "DataSource",
    "Distillation",
    "Explainer",
    "FeatureMap",
    "FlexzooError",
    "GrowableBackbone",
    "Head",
    "HeadTask",
    "Initializer",
    "LocalTraining",
    "Model",
    "PackingStep",
    "ParameterError",
    "PretrainedSource",
    "RestorableStep",
    "RunInfo",
    "SingleProcess",
    "StepContext",
    "StepUnavailable",
    "Strategy",
    "Tracker",
    "TrainingData",
    "WeightsFile",
    "helpers",
    "hookimpl",
]

#: Where each name lives; imported on first use, so that a plugin's ``from flexzoo.plugin import Component,
#: hookimpl`` (what ``zoo list`` runs for every plugin) loads neither the Protocols nor the step context.
_LAZY = {
    **dict.fromkeys(["ArtifactError", "DataError", "FlexzooError", "ParameterError"], "flexzoo.errors"),
    **dict.fromkeys(["PretrainedSource", "WeightsFile"], "flexzoo.hub.sources"),
    "Component": "flexzoo.plugin.components",
    "hookimpl": "flexzoo.plugin.hookspecs",
    **dict.fromkeys(["Backbone", "CompressionStep", "DataDependentInitializer", "DataSource", "Explainer",
                     "FeatureMap", "GrowableBackbone", "Head", "Initializer", "LocalTraining", "Model", "PackingStep",
                     "RestorableStep", "Strategy", "Tracker"], "flexzoo.plugin.protocols"),
    "SingleProcess": "flexzoo.plugin.single_process",
    **dict.fromkeys(["Distillation", "StepContext", "StepUnavailable", "TrainingData"], "flexzoo.plugin.steps"),
    "HeadTask": "flexzoo.plugin.tasks",
    "RunInfo": "flexzoo.plugin.tracking",
}

#: Names this module held in flexzoo 0.2 that live elsewhere now: name -> (module, what to write instead).
MOVED = {
    **{name: ("flexzoo.plugin.helpers", f"from flexzoo.plugin.helpers import {name}") for name in (
        "IMAGE_SUFFIXES", "Listing", "ShippedList", "check_weights_file", "load_weights_file", "release",
        "restoring_weights", "safetensors_shapes", "write_atomically")},
    # A plugin declares the API it was written for (FLEXZOO_PLUGIN_API = 2); copying the host's defeats the check.
    "PLUGIN_API_VERSION": ("flexzoo._version",
                           "FLEXZOO_PLUGIN_API = 2 in your plugin module (flexzoo.PLUGIN_API_VERSION is the host's)"),
}


def __getattr__(name: str) -> object:
    """Each name on first use (PEP 562); the 0.2 names that moved, still answered with a DeprecationWarning naming
    their new place."""
    import importlib

    if name == "helpers":
        return importlib.import_module("flexzoo.plugin.helpers")
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value  # later lookups are plain attribute reads
        return value
    if name in MOVED:
        import warnings

        module, instead = MOVED[name]
        warnings.warn(f"flexzoo.plugin.{name} moved to {module}.{name}; write `{instead}` "
                      "(the old name goes in flexzoo 0.3)", DeprecationWarning, stacklevel=2)
        return getattr(importlib.import_module(module), name)
    raise AttributeError(f"module 'flexzoo.plugin' has no attribute {name!r}")


def __dir__() -> list[str]:
    """What is defined and what is imported on first use: ``dir()`` and tab completion show both."""
    return sorted(set(globals()) | set(__all__))
