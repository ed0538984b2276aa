"""Where a transformers encoder's pretrained weights come from: a Hugging Face repository.

``pretrained`` names a repository as transformers' ``from_pretrained`` takes it (``"ORG/NAME"``,
optionally ``@REVISION``) or as flexzoo writes every Hub reference (``"hf-hub:ORG/NAME[@REVISION]"``);
an existing local directory (written by ``save_pretrained``) is used as it is. The host fetches,
locks and verifies ``config.json`` and ``model.safetensors`` (``flexzoo_pretrained_source``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flexzoo.plugin import ParameterError, PretrainedSource, WeightsFile
from flexzoo.plugin.helpers import HubReference

WEIGHTS = "model.safetensors"
CONFIG = "config.json"
_DEFAULT_LABEL = re.compile(r"LABEL_\d+")


def repository(reference: Any) -> HubReference | None:
    """The repository a ``pretrained`` value names; None for an existing local directory."""
    if reference is True:
        raise ParameterError("pretrained", "transformers has no default weights for a model type",
                             'name a repository: pretrained = "hf-hub:ORG/NAME" (or "ORG/NAME")')
    if not isinstance(reference, str) or Path(reference).expanduser().exists() or reference.startswith(("/", ".", "~")):
        return None
    text = reference if reference.startswith("hf-hub:") else f"hf-hub:{reference}"
    try:
        return HubReference.parse(text)
    except ValueError:
        if reference.startswith("hf-hub:"):
            raise ParameterError("pretrained", f"{reference!r} is not a Hub reference",
                                 "write it as hf-hub:ORG/NAME[@REVISION]") from None
        return None  # not a repository id: the path check reports it


def pretrained_source(reference: Any) -> PretrainedSource | None:
    """The source of a ``pretrained`` value; None for a local directory (or no weights)."""
    if reference is None or reference is False:
        return None
    hub = repository(reference)
    if hub is None:
        return None
    import transformers

    return PretrainedSource(str(reference), (WeightsFile.on_hub(hub, WEIGHTS), WeightsFile.on_hub(hub, CONFIG)),
                            library=f"transformers {transformers.__version__}")


def config_preprocessing(config: Mapping[str, Any]) -> dict[str, Any]:
    """What a repository's ``config.json`` declares for preprocessing: class names, when it names them."""
    labels = config.get("id2label") or {}
    names = [labels[key] for key in sorted(labels, key=int)] if labels else []
    if names and not all(_DEFAULT_LABEL.fullmatch(str(name)) for name in names):
        return {"label_names": names}
    return {}
