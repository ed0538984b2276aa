"""What a plugin may import from flexzoo: this module, ``flexzoo.testing`` and nothing else.

Everything a plugin author needs is listed once, in ``__all__`` below, and versioned by
``PLUGIN_API_VERSION``; every other module of flexzoo is internal and may change in any release.
Importing this module does not import torch. docs/plugins.md documents each name.

    from flexzoo.plugin import Component, ParameterError, StepContext, hookimpl
"""

from __future__ import annotations

from pathlib import Path

from flexzoo._version import PLUGIN_API_VERSION
from flexzoo.atomic import write_atomically
from flexzoo.errors import ArtifactError, DataError, FlexzooError, ParameterError
from flexzoo.inputs.image_suffixes import IMAGE_SUFFIXES
from flexzoo.plugin.components import Component
from flexzoo.plugin.hookspecs import hookimpl
from flexzoo.plugin.protocols import (
    Backbone,
    CompressionStep,
    DataDependentInitializer,
    DataSource,
    FeatureMap,
    GrowableBackbone,
    Head,
    Initializer,
    LocalTraining,
    Model,
    PackingStep,
    RestorableStep,
    Strategy,
)
from flexzoo.plugin.restoring import restoring_weights
from flexzoo.plugin.safetensors_header import read_header
from flexzoo.plugin.shipped_list import Listing, ShippedList, release
from flexzoo.plugin.single_process import SingleProcess
from flexzoo.plugin.steps import Distillation, StepContext, StepUnavailable, TrainingData
from flexzoo.plugin.tracking import RunInfo
from flexzoo.plugin.weights_file import check_weights_file, load_weights_file

__all__ = [
    "IMAGE_SUFFIXES",
    "PLUGIN_API_VERSION",
    "ArtifactError",
    "Backbone",
    "Component",
    "CompressionStep",
    "DataDependentInitializer",
    "DataError",
    "DataSource",
    "Distillation",
    "FeatureMap",
    "FlexzooError",
    "GrowableBackbone",
    "Head",
    "Initializer",
    "Listing",
    "LocalTraining",
    "Model",
    "PackingStep",
    "ParameterError",
    "RestorableStep",
    "RunInfo",
    "ShippedList",
    "SingleProcess",
    "StepContext",
    "StepUnavailable",
    "Strategy",
    "TrainingData",
    "check_weights_file",
    "hookimpl",
    "load_weights_file",
    "release",
    "restoring_weights",
    "safetensors_shapes",
    "write_atomically",
]


def safetensors_shapes(path: str | Path) -> dict[str, tuple[int, ...]]:
    """The name and shape of every tensor in a ``.safetensors`` file, read from its header alone.

    Raises ArtifactError, with the reason, for a file that is missing or not safetensors.
    """
    return {name: tuple(entry["shape"]) for name, entry in read_header(path).tensors.items()}
