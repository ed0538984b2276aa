"""The libraries' caches: where a :class:`~flexzoo.hub.sources.WeightsFile` lives, fetched through their own code.

Hub files go through ``huggingface_hub.hf_hub_download`` into ``HF_HUB_CACHE`` (default
``HF_HOME/hub``), URLs through ``torch.hub`` into ``TORCH_HOME/hub/checkpoints``. The settings are
read from the environment on every call (``huggingface_hub`` reads them once, at import), so a
test or a caller that sets ``HF_HUB_OFFLINE`` or ``HF_HUB_CACHE`` later is still obeyed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from flexzoo.errors import FlexzooError
from flexzoo.hub.sources import WeightsFile

__all__ = ["Fetched", "WeightsUnavailable", "fetch_file", "hub_cache_dir", "offline", "torch_checkpoints_dir"]

_TRUE = {"1", "on", "yes", "true"}


class WeightsUnavailable(FlexzooError):
    """A file is not in the cache and may not (offline) or cannot (no network) be downloaded."""

    def __init__(self, file: WeightsFile, where: Path, reason: str) -> None:
        self.file = file
        self.where = where
        self.reason = reason
        revision = f" (revision {file.revision or 'main'})" if file.repo_id else ""
        repository = f"repository {file.repo_id}" if file.repo_id else file.url
        super().__init__(f"{file.filename} of {repository}{revision} is not in the cache {where}, and {reason}")


@dataclass(frozen=True)
class Fetched:
    """A file in its cache: its path and, for a Hub file, the commit its revision resolved to."""

    file: WeightsFile
    path: Path
    commit: str | None = None

    @property
    def size(self) -> int:
        return self.path.stat().st_size


def offline() -> bool:
    """Whether downloads are forbidden: ``HF_HUB_OFFLINE`` (or ``TRANSFORMERS_OFFLINE``) is set, for every source."""
    return any(os.environ.get(name, "").strip().lower() in _TRUE for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def hub_cache_dir() -> Path:
    """``HF_HUB_CACHE``, else ``HF_HOME/hub``, else ``~/.cache/huggingface/hub`` (huggingface_hub's rule)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    home = os.environ.get("HF_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME", "~/.cache"), "huggingface")
    return Path(home).expanduser() / "hub"


def torch_checkpoints_dir() -> Path:
    """``TORCH_HOME/hub/checkpoints``, where torch.hub keeps downloaded weights (torch's own rule)."""
    import torch.hub

    return Path(torch.hub.get_dir()) / "checkpoints"


def fetch_file(file: WeightsFile, revision: str | None = None) -> Fetched:
    """The file in its cache, downloaded first when it is missing and downloads are allowed.

    :param revision: ask for this revision (a locked commit) instead of the one the file names.
    :raises WeightsUnavailable: missing, and offline or unreachable.
    """
    return _fetch_url(file) if file.url is not None else _fetch_hub(file, revision or file.revision)


def _fetch_hub(file: WeightsFile, revision: str | None) -> Fetched:
    from flexzoo.hub.transfers import transferring  # on use: listing never pays for it

    try:
        from huggingface_hub import hf_hub_download, try_to_load_from_cache
        from huggingface_hub.errors import LocalEntryNotFoundError, OfflineModeIsEnabled
    except ImportError as exc:
        raise FlexzooError(f"{file.origin} needs huggingface_hub: pip install 'flexzoo[hub]'") from exc
    cache = hub_cache_dir()
    try:
        cached = isinstance(try_to_load_from_cache(file.repo_id, file.filename, cache_dir=cache, revision=revision),
                            str)
        with transferring("downloaded", f"{file.repo_id} {file.filename}") as transfer:
            path = Path(hf_hub_download(file.repo_id, file.filename, revision=revision, cache_dir=cache,
                                        local_files_only=offline()))
            transfer.size = 0 if cached else path.stat().st_size
    except (LocalEntryNotFoundError, OfflineModeIsEnabled) as exc:
        reason = ("HF_HUB_OFFLINE=1 forbids downloading it" if offline()
                  else f"the Hub could not be reached ({str(exc).strip().splitlines()[0]})")
        raise WeightsUnavailable(WeightsFile(file.filename, file.repo_id, revision), cache, reason) from None
    except Exception as exc:  # the Hub answered: no such repository, revision or file; or no access
        raise FlexzooError(f"{file.origin}: {type(exc).__name__}: {str(exc).strip().splitlines()[0]}") from None
    return Fetched(file, path, _commit_of(path, cache))


def _commit_of(path: Path, cache: Path) -> str | None:
    """The commit of ``<cache>/models--ORG--NAME/snapshots/<commit>/<file>``."""
    try:
        parts = path.relative_to(cache).parts
    except ValueError:
        parts = path.parts
    return parts[parts.index("snapshots") + 1] if "snapshots" in parts else None


def _fetch_url(file: WeightsFile) -> Fetched:
    from flexzoo.hub.transfers import transferring  # on use: listing never pays for it

    target = torch_checkpoints_dir() / file.filename
    if target.is_file():
        return Fetched(file, target)
    if offline():
        raise WeightsUnavailable(file, target.parent, "HF_HUB_OFFLINE=1 forbids downloading it")
    import torch.hub

    target.parent.mkdir(parents=True, exist_ok=True)
    prefix = torch.hub.HASH_REGEX.search(file.filename)  # torch.hub's check_hash: the name holds the sha256's start
    try:  # torch.hub writes a temporary file and renames it: never a half-written checkpoint
        with transferring("downloaded", file.url) as transfer:
            torch.hub.download_url_to_file(file.url, str(target), hash_prefix=prefix.group(1) if prefix else None,
                                           progress=transfer.bars)
            transfer.size = target.stat().st_size
    except (OSError, RuntimeError) as exc:  # RuntimeError: the download's sha256 does not start as its name says
        raise WeightsUnavailable(file, target.parent, f"it could not be downloaded ({exc})") from None
    return Fetched(file, target)
