"""Helpers the host offers plugins, beside the contracts of :mod:`flexzoo.plugin` (part of plugin API 2).

    from flexzoo.plugin.helpers import Positive, load_weights_file, restoring_weights

- Parameter annotations that ``zoo validate`` checks and ``zoo info`` shows: ``Positive`` (int > 0),
  ``NonNegative`` (int >= 0), ``PositiveFloat`` (float > 0), ``Probability`` (float in [0, 1)),
  ``Sizes`` (a non-empty list of positive ints, such as layer widths); ``Bound(Le(1024), "why")`` puts
  a limit on a size with the reason the refusal gives (``depth: Annotated[Positive, Bound(Le(1024), "...")]``).
- Weights: ``restoring_weights()`` (true while ``flexzoo.load`` rebuilds a model whose weights it then
  replaces: skip your own ``pretrained`` file), ``load_weights_file`` / ``check_weights_file`` (a local
  ``.safetensors`` file into a module, every mismatch named), ``safetensors_shapes`` (names and shapes
  from a header, without torch).
- Pretrained weights (the files a ``PretrainedSource`` names): ``fetch_pretrained(source)`` (each file in
  its cache, downloaded when allowed, checked against the manifest's lock, recorded in the artifact) gives
  ``PretrainedWeights`` for ``load_weights_file``; ``HubReference`` parses ``hf-hub:ORG/NAME[@REVISION]``;
  ``looks_like_path`` tells a local file from a library's weights name.
- Files and listings: ``write_atomically`` (no half-written file is ever left), ``IMAGE_SUFFIXES`` (the
  suffixes the host reads as images), ``ShippedList`` / ``Listing`` / ``release`` (a shipped JSON list of
  what a library offers, so ``zoo list`` need not import it).
- Head tasks: ``CLASSIFICATION``, ``SEGMENTATION``, ``REGRESSION``, ``DETECTION``, the builtin
  :class:`~flexzoo.plugin.HeadTask` declarations a head of one of those kinds names in ``tasks=(...)``.

Importing this module does not import torch; it defines the parameter annotations (annotated-types) and imports
each other name on first use, so a factory module that takes ``Positive`` pays for nothing else.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any

from annotated_types import BaseMetadata, Ge, GroupedMetadata, Gt, Interval, MinLen

TYPE_CHECKING = False  # typing.TYPE_CHECKING, spelt so that the names below stay one list
if TYPE_CHECKING:
    from pathlib import Path

    from flexzoo.atomic import write_atomically
    from flexzoo.hub.references import HubReference
    from flexzoo.hub.sources import looks_like_path
    from flexzoo.hub.weights import PretrainedWeights, fetch_pretrained
    from flexzoo.inputs.image_suffixes import IMAGE_SUFFIXES
    from flexzoo.plugin.builtin_tasks import CLASSIFICATION, DETECTION, REGRESSION, SEGMENTATION
    from flexzoo.plugin.restoring import restoring_weights
    from flexzoo.plugin.shipped_list import Listing, ShippedList, release
    from flexzoo.plugin.weights_file import check_weights_file, load_weights_file

__all__ = [
    "CLASSIFICATION",
    "DETECTION",
    "IMAGE_SUFFIXES",
    "REGRESSION",
    "SEGMENTATION",
    "Bound",
    "HubReference",
    "Listing",
    "NonNegative",
    "Positive",
    "PositiveFloat",
    "PretrainedWeights",
    "Probability",
    "ShippedList",
    "Sizes",
    "check_weights_file",
    "fetch_pretrained",
    "load_weights_file",
    "looks_like_path",
    "release",
    "restoring_weights",
    "safetensors_shapes",
    "write_atomically",
]

#: A parameter annotation: an integer > 0 (validation refuses others, `zoo info` shows the constraint).
Positive = Annotated[int, Gt(0)]
#: A parameter annotation: an integer >= 0.
NonNegative = Annotated[int, Ge(0)]
#: A parameter annotation: a float > 0.
PositiveFloat = Annotated[float, Gt(0)]
#: A parameter annotation: a float in [0, 1) (a dropout rate).
Probability = Annotated[float, Interval(ge=0, lt=1)]
#: A parameter annotation: layer widths, a non-empty list of integers > 0.
Sizes = Annotated[list[Positive], MinLen(1)]  # layer widths: at least one, each positive


@dataclass(frozen=True)
class Bound(GroupedMetadata):
    """A constraint with its reason: ``Bound(Le(1024), "ResNet-1001 has 111 blocks a stage")``.

    It checks as its constraint does (``zoo info`` shows ``<= 1024``); a value that breaks it is
    refused with the reason, so the user learns why the limit is there, not only that it is.
    """

    constraint: BaseMetadata
    why: str

    def __iter__(self) -> Iterator[Any]:
        yield self.constraint


def safetensors_shapes(path: str | Path) -> dict[str, tuple[int, ...]]:
    """The name and shape of every tensor in a ``.safetensors`` file, read from its header alone.

    Raises ArtifactError, with the reason, for a file that is missing or not safetensors.
    """
    from flexzoo.plugin.safetensors_header import read_header

    return {name: tuple(entry["shape"]) for name, entry in read_header(path).tensors.items()}


#: Where each name defined elsewhere lives, imported on first use (PEP 562).
_LAZY = {
    "write_atomically": "flexzoo.atomic",
    "HubReference": "flexzoo.hub.references",
    "looks_like_path": "flexzoo.hub.sources",
    **dict.fromkeys(["PretrainedWeights", "fetch_pretrained"], "flexzoo.hub.weights"),
    "IMAGE_SUFFIXES": "flexzoo.inputs.image_suffixes",
    **dict.fromkeys(["CLASSIFICATION", "DETECTION", "REGRESSION", "SEGMENTATION"], "flexzoo.plugin.builtin_tasks"),
    "restoring_weights": "flexzoo.plugin.restoring",
    **dict.fromkeys(["Listing", "ShippedList", "release"], "flexzoo.plugin.shipped_list"),
    **dict.fromkeys(["check_weights_file", "load_weights_file"], "flexzoo.plugin.weights_file"),
}


def __getattr__(name: str) -> Any:
    """The helpers defined in other modules, each imported on first use."""
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'flexzoo.plugin.helpers' has no attribute {name!r}")


def __dir__() -> list[str]:
    """What is defined and what is imported on first use: ``dir()`` and tab completion show both."""
    return sorted(set(globals()) | set(__all__))
