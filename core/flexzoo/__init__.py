"""flexzoo: a plugin-based model zoo. ``import flexzoo`` is cheap; torch loads when a model is built."""

from __future__ import annotations

from flexzoo._version import PLUGIN_API_VERSION, __version__

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (`zoo --version` should not)
if TYPE_CHECKING:
    from flexzoo.api import build, export, list_components, load, save, train
    from flexzoo.assembly.builder import ZooModel
    from flexzoo.errors import ArtifactError, FlexzooError, ManifestError, ParameterError, PluginError
    from flexzoo.manifest.validation import load_manifest
    from flexzoo.plugin.components import Component
    from flexzoo.plugin.hookspecs import hookimpl, hookspec
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

# Imported on first use, so that `import flexzoo` (and every `zoo` verb) pays only for what it touches: the
# errors and the component declaration pull in dataclasses and inspect, the hook markers pluggy, the API manifest
# validation, training config and annotated-types; the model types pull in torch.
_LAZY = {**dict.fromkeys(["ArtifactError", "FlexzooError", "ManifestError", "ParameterError", "PluginError"],
                         "flexzoo.errors"),
         "Component": "flexzoo.plugin.components", "hookimpl": "flexzoo.plugin.hookspecs",
         "hookspec": "flexzoo.plugin.hookspecs", "ZooModel": "flexzoo.assembly.builder",
         "Predictor": "flexzoo.prediction",
         **dict.fromkeys(["build", "export", "list_components", "load", "save", "train"], "flexzoo.api"),
         "load_manifest": "flexzoo.manifest.validation"}


def __getattr__(name: str) -> object:
    """Import every public name but the version on first use (PEP 562)."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'flexzoo' has no attribute {name!r}")


def __dir__() -> list[str]:
    """What is defined and what is imported on first use: ``dir()`` and tab completion show both."""
    return sorted(set(globals()) | set(__all__))
