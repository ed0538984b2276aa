"""What a plugin may import from flexzoo: this module, ``flexzoo.testing`` and nothing else.

Everything a plugin author needs is listed once, in ``__all__`` below, and versioned by
``PLUGIN_API_VERSION``; every other module of flexzoo is internal and may change in any release.
Importing this module does not import torch. docs/plugins.md documents each name.

    from flexzoo.plugin import Component, ParameterError, StepContext, hookimpl
"""

from __future__ import annotations

from pathlib import Path

from flexzoo._version import PLUGIN_API_VERSION
from flexzoo.artifact.safetensors_header import read_header
from flexzoo.atomic import write_atomically
from flexzoo.components import Component
from flexzoo.errors import ArtifactError, DataError, FlexzooError, ParameterError
from flexzoo.hookspecs import hookimpl
from flexzoo.hub.references import HubReference
from flexzoo.hub.sources import PretrainedSource, WeightsFile, looks_like_path
from flexzoo.hub.weights import PretrainedWeights, fetch_pretrained
from flexzoo.image_suffixes import IMAGE_SUFFIXES
from flexzoo.protocols import (
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
)
from flexzoo.restoring import restoring_weights
from flexzoo.shipped_list import Listing, ShippedList, release
from flexzoo.single_process import SingleProcess
from flexzoo.steps import Distillation, StepContext, StepUnavailable, TrainingData
from flexzoo.tracking import RunInfo
from flexzoo.weights_file import check_weights_file, load_weights_file

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
    "Explainer",
    "FeatureMap",
    "FlexzooError",
    "GrowableBackbone",
    "Head",
    "HubReference",
    "Initializer",
    "Listing",
    "LocalTraining",
    "Model",
    "PackingStep",
    "ParameterError",
    "PretrainedSource",
    "PretrainedWeights",
    "RestorableStep",
    "RunInfo",
    "ShippedList",
    "SingleProcess",
    "StepContext",
    "StepUnavailable",
    "Strategy",
    "TrainingData",
    "WeightsFile",
    "check_weights_file",
    "fetch_pretrained",
    "hookimpl",
    "load_weights_file",
    "looks_like_path",
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
