"""What a plugin declares about a pretrained reference: the files it needs and where the library keeps them.

A backbone plugin answers ``flexzoo_pretrained_source`` with a :class:`PretrainedSource`; from it the
host fetches (``zoo fetch``), pins (``zoo lock``), refuses a changed file (``zoo build``), works
offline (``HF_HUB_OFFLINE=1``) and re-hashes (``zoo cache verify``) without code of the plugin's own.
Torch-free, and free of ``huggingface_hub``: these are plain values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from flexzoo.hub.references import PREFIX, HubReference

__all__ = ["PretrainedSource", "WeightsFile", "looks_like_path"]

#: Suffixes of weight files: a reference ending in one is a local path, never a library's weights name.
WEIGHT_SUFFIXES = (".safetensors", ".pth", ".pt", ".bin", ".ckpt", ".onnx")


@dataclass(frozen=True)
class WeightsFile:
    """One file a pretrained reference needs: a file of a Hugging Face Hub repository, or a URL.

    :param filename: the file's name in the repository (``model.safetensors``); for a URL, the name
        torch.hub caches it under (the URL's last part) in ``TORCH_HOME/hub/checkpoints``.
    :param repo_id: the Hub repository (``timm/resnet18.a1_in1k``), cached in ``HF_HUB_CACHE``.
    :param revision: the branch, tag or commit asked for (None: ``main``).
    :param url: a plain URL instead of a repository (torchvision's weights), fetched by torch.hub.
    """

    filename: str
    repo_id: str | None = None
    revision: str | None = None
    url: str | None = None

    def __post_init__(self) -> None:
        if (self.repo_id is None) == (self.url is None):
            raise ValueError(f"WeightsFile {self.filename!r}: give exactly one of repo_id and url")

    @classmethod
    def from_url(cls, url: str) -> WeightsFile:
        """A file torch.hub downloads from ``url`` into ``TORCH_HOME/hub/checkpoints/<its last part>``."""
        return cls(filename=Path(urlparse(url).path).name, url=url)

    @classmethod
    def on_hub(cls, reference: HubReference, filename: str) -> WeightsFile:
        """``filename`` of the repository (and revision) a ``hf-hub:`` reference names."""
        return cls(filename=filename, repo_id=reference.repo_id, revision=reference.revision)

    @property
    def origin(self) -> str:
        """Where the file comes from, for messages: ``hf-hub:ORG/NAME@REV/FILE`` or the URL."""
        if self.url is not None:
            return self.url
        return f"{PREFIX}{self.repo_id}@{self.revision or 'main'}/{self.filename}"


@dataclass(frozen=True)
class PretrainedSource:
    """Where a backbone's ``pretrained`` reference comes from (what ``flexzoo_pretrained_source`` returns).

    :param reference: the reference as the manifest wrote it (``"hf-hub:timm/resnet18.a1_in1k"``,
        ``"true"``, ``"IMAGENET1K_V2"``).
    :param files: every file the weights need, the weights first; each is fetched, locked and verified.
    :param preprocessing: what the library declares for these weights without reading a file (timm's
        ``pretrained_cfg``, torchvision's ``Weights.transforms()`` and ``meta``): ``mean``, ``std``,
        ``input_size``, ``interpolation``, ``crop_pct``, ``label_names``. A plugin whose config is a
        file (a Hub repository's ``config.json``) gives it with ``PretrainedWeights.describe``.
    :param library: the library and version the weights are for (``"timm 1.0.9"``), for the card.
    """

    reference: str
    files: tuple[WeightsFile, ...]
    preprocessing: Mapping[str, Any] = field(default_factory=dict)
    library: str = ""

    def __post_init__(self) -> None:
        if not self.files:
            raise ValueError(f"PretrainedSource {self.reference!r}: name at least one file")
        object.__setattr__(self, "files", tuple(self.files))


def looks_like_path(reference: object) -> bool:
    """Whether a ``pretrained`` value is a local path rather than a library's name for weights.

    A path is a string that exists, starts with ``/``, ``.`` or ``~``, or ends in a weights suffix;
    ``true``, ``hf-hub:`` references and bare names (``"IMAGENET1K_V2"``) are not.
    """
    if not isinstance(reference, str) or reference.startswith(PREFIX):
        return False
    return (reference.startswith(("/", ".", "~")) or reference.lower().endswith(WEIGHT_SUFFIXES)
            or Path(reference).expanduser().exists())
