"""Loading local safetensors weights into a timm backbone, with every mismatch named.

The file is checked against the model from its header alone, so the host's dry run on the meta
device refuses a wrong file before anything is allocated; the tensors are read in the real build.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from flexzoo.plugin import ArtifactError, ParameterError, safetensors_shapes

if TYPE_CHECKING:
    from torch import nn

#: Buffers a checkpoint may lack without harm (batch-norm step counters).
_OPTIONAL_SUFFIXES = ("num_batches_tracked",)
_SHOWN = 5


def _classifier_prefixes(model: nn.Module) -> tuple[str, ...]:
    """Module names of the classifier the backbone dropped (its tensors in a file are not unexpected)."""
    cfg = getattr(model, "pretrained_cfg", None) or getattr(getattr(model, "features", None), "pretrained_cfg", {})
    classifier = cfg.get("classifier") if isinstance(cfg, dict) else None
    names = classifier if isinstance(classifier, (list, tuple)) else [classifier] if classifier else []
    return tuple(f"{name}." for name in names)


def _listing(keys: list[str]) -> str:
    shown = ", ".join(keys[:_SHOWN])
    return f"{shown} and {len(keys) - _SHOWN} more" if len(keys) > _SHOWN else shown


def check_against_file(model: nn.Module, path: Path) -> tuple[list[str], list[str], list[str]]:
    """Missing, unexpected and misshapen tensor names of ``path`` for ``model``."""
    try:
        stored = safetensors_shapes(path)
    except ArtifactError as exc:
        raise ParameterError("pretrained", str(exc), "give the path of a .safetensors weights file") from None
    expected = {name: tuple(t.shape) for name, t in model.state_dict().items()}
    ignored = _classifier_prefixes(model)
    missing = sorted(k for k in expected if k not in stored and not k.endswith(_OPTIONAL_SUFFIXES))
    unexpected = sorted(k for k in stored if k not in expected and not k.startswith(ignored))
    misshapen = sorted(f"{k} (file {list(stored[k])}, model {list(expected[k])})"
                       for k in expected if k in stored and stored[k] != expected[k])
    return missing, unexpected, misshapen


def load_pretrained(model: nn.Module, path: str, *, strict: bool = True) -> None:
    """Check ``path`` against ``model`` and load it (only the check runs on the meta device)."""
    file = Path(path).expanduser()
    missing, unexpected, misshapen = check_against_file(model, file)
    problems = [f"{label} {len(keys)}: {_listing(keys)}" for label, keys in
                (("missing", missing), ("unexpected", unexpected), ("misshapen", misshapen)) if keys]
    if problems:
        message = f"{file} does not fit this architecture: " + "; ".join(problems)
        if strict:
            raise ParameterError("pretrained", message,
                                 "use weights saved from this architecture, or set pretrained_strict = false "
                                 "to load the tensors that fit")
        warnings.warn(message + "; loading the tensors that fit", stacklevel=2)
    if any(t.is_meta for t in model.state_dict().values()):
        return
    from safetensors.torch import load_file

    skip = set(unexpected) | {entry.partition(" ")[0] for entry in misshapen}
    expected = model.state_dict().keys()
    tensors = {k: v for k, v in load_file(str(file)).items() if k in expected and k not in skip}
    model.load_state_dict(tensors, strict=False)
