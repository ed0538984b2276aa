"""Loading a local ``.safetensors`` weights file into a backbone, with every mismatch named.

Shared by the plugins whose factories take a ``pretrained`` file (timm, torchvision). The file is
checked against the model from its header alone, so the host's dry run on the meta device refuses
a wrong file before anything is allocated; the tensors are read in the real build. Importing this
module does not import torch.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from flexzoo.errors import ArtifactError, ParameterError
from flexzoo.hub.weights import PretrainedWeights
from flexzoo.plugin.safetensors_header import read_header

if TYPE_CHECKING:
    from torch import nn

__all__ = ["WeightsMismatch", "check_weights_file", "load_weights_file"]

#: Buffers a checkpoint may lack without harm (batch-norm step counters).
_OPTIONAL_SUFFIXES = ("num_batches_tracked",)
_SHOWN = 5


class WeightsMismatch(NamedTuple):
    """How a weights file differs from a model: tensor names, sorted (misshapen ones with both shapes)."""

    missing: list[str]
    unexpected: list[str]
    misshapen: list[str]


def _listing(keys: list[str]) -> str:
    shown = ", ".join(keys[:_SHOWN])
    return f"{shown} and {len(keys) - _SHOWN} more" if len(keys) > _SHOWN else shown


def check_weights_file(model: nn.Module, path: str | Path, *, ignore: Sequence[str] = (),
                       parameter: str = "pretrained") -> WeightsMismatch:
    """Missing, unexpected and misshapen tensor names of the file at ``path`` for ``model``.

    :param ignore: name prefixes of tensors the file may hold that the model dropped on purpose (a
        classifier, ``"fc."``): they are not unexpected.
    :param parameter: the factory parameter that named the file, for the error of an unreadable one.
    """
    try:
        stored = {name: tuple(entry["shape"]) for name, entry in read_header(Path(path).expanduser()).tensors.items()}
    except ArtifactError as exc:
        raise ParameterError(parameter, str(exc), "give the path of a .safetensors weights file") from None
    return _compare(model, stored, ignore)


def _compare(model: nn.Module, stored: dict[str, tuple[int, ...]], ignore: Sequence[str]) -> WeightsMismatch:
    expected = {name: tuple(t.shape) for name, t in model.state_dict().items()}
    prefixes = tuple(ignore)
    missing = sorted(k for k in expected if k not in stored and not k.endswith(_OPTIONAL_SUFFIXES))
    unexpected = sorted(k for k in stored if k not in expected and not (prefixes and k.startswith(prefixes)))
    misshapen = sorted(f"{k} (file {list(stored[k])}, model {list(expected[k])})"
                       for k in expected if k in stored and stored[k] != expected[k])
    return WeightsMismatch(missing, unexpected, misshapen)


def load_weights_file(model: nn.Module, path: str | Path | PretrainedWeights, *, strict: bool = True,
                      ignore: Sequence[str] = (), parameter: str = "pretrained") -> None:
    """Check the file at ``path`` against ``model`` and load its tensors (only the check runs on meta).

    ``path`` may also be the :class:`~flexzoo.hub.weights.PretrainedWeights` of ``fetch_pretrained``: its
    weights file is then read once (hashed and checked against the lock) and loaded from those bytes.
    A mismatch is a ParameterError naming the tensors when ``strict``; otherwise a warning, and the
    tensors that fit are loaded. Tensors under ``ignore`` prefixes are never loaded.
    """
    on_meta = any(t.is_meta for t in model.state_dict().values())
    tensors = None
    if isinstance(path, PretrainedWeights):
        file = path.path()
        tensors = None if on_meta else path.state_dict()
        shapes = path.shapes() if tensors is None else {k: tuple(v.shape) for k, v in tensors.items()}
        found = _compare(model, shapes, ignore)
    else:
        file = Path(path).expanduser()
        found = check_weights_file(model, file, ignore=ignore, parameter=parameter)
    problems = [f"{label} {len(keys)}: {_listing(keys)}" for label, keys in
                (("missing", found.missing), ("unexpected", found.unexpected), ("misshapen", found.misshapen))
                if keys]
    if problems:
        message = f"{file} does not fit this architecture: " + "; ".join(problems)
        if strict:
            raise ParameterError(parameter, message,
                                 "use weights saved from this architecture, or set pretrained_strict = false "
                                 "to load the tensors that fit")
        warnings.warn(message + "; loading the tensors that fit", stacklevel=2)
    if on_meta:
        return
    if tensors is None:
        from safetensors.torch import load_file

        tensors = load_file(str(file))
    skip = set(found.unexpected) | {entry.partition(" ")[0] for entry in found.misshapen}
    expected = model.state_dict().keys()
    tensors = {k: v for k, v in tensors.items() if k in expected and k not in skip}
    model.load_state_dict(tensors, strict=False)
