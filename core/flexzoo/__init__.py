"""flexzoo: a plugin-based model zoo. ``import flexzoo`` is cheap; torch loads when a model is built."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flexzoo._version import PLUGIN_API_VERSION, __version__
from flexzoo.errors import ArtifactError, FlexzooError, ManifestError, ParameterError, PluginError
from flexzoo.plugin.components import Component
from flexzoo.plugin.hookspecs import hookimpl, hookspec

if TYPE_CHECKING:
    from flexzoo.api import build, export, list_components, load, save, train
    from flexzoo.assembly.builder import ZooModel
    from flexzoo.manifest.validation import load_manifest
    from flexzoo.prediction import Predictor

__all__ = [
    "PLUGIN_API_VERSION",
    "ArtifactError",
    "Component",
    "FlexzooError",
    "ManifestError",
    "ParameterError",
    "PluginError",
    "Predictor",
    "ZooModel",
    "__version__",
    "build",
    "export",
    "hookimpl",
    "hookspec",
    "list_components",
    "load",
    "load_manifest",
    "save",
    "train",
]

# Imported on first use, so that `import flexzoo` (and every `zoo` verb) pays only for what it touches:
# the API pulls in manifest validation, training config and annotated-types; the model types pull in torch.
_LAZY = {"ZooModel": "flexzoo.assembly.builder", "Predictor": "flexzoo.prediction",
         **dict.fromkeys(["build", "export", "list_components", "load", "save", "train"], "flexzoo.api"),
         "load_manifest": "flexzoo.manifest.validation"}


def __getattr__(name: str) -> Any:
    """Import the API's heavier parts on first use (PEP 562)."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'flexzoo' has no attribute {name!r}")
