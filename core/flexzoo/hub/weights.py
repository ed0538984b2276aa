"""``fetch_pretrained``: a plugin's :class:`PretrainedSource` made into files in the cache, checked and recorded.

A backbone factory calls it with the source its ``flexzoo_pretrained_source`` hook declares and reads
the weights through the :class:`PretrainedWeights` it returns. Each file is fetched into its
library's cache (or found there offline), its commit checked against the manifest's lock, and its
bytes read once: hashed, checked against the lock and deserialized from the same bytes. The real
build records, for the artifact, each source's repository, commit, file, size, sha256 and
preprocessing. Importing this module imports neither torch nor huggingface_hub.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flexzoo.errors import ArtifactError, FlexzooError, ParameterError
from flexzoo.hub.cache import Fetched, WeightsUnavailable, fetch_file
from flexzoo.hub.lock import LockedFile
from flexzoo.hub.scope import BuildScope, current_scope, mismatch
from flexzoo.hub.sources import PretrainedSource, WeightsFile
from flexzoo.plugin.safetensors_header import read_header

if TYPE_CHECKING:
    import torch

__all__ = ["PretrainedWeights", "fetch_pretrained"]


def fetch_pretrained(source: PretrainedSource, parameter: str = "pretrained") -> PretrainedWeights:
    """Every file of ``source`` in its cache (downloaded when missing and allowed), checked against the lock.

    Problems are ParameterErrors of ``parameter``, which the host reports at the manifest key: a file
    missing offline (naming repository, file, revision and the ``zoo fetch`` command), a revision that
    moved since ``zoo lock``, a file the lock does not pin.
    """
    scope = current_scope()
    found = {file.filename: _fetch_checked(file, scope, parameter) for file in source.files}
    return PretrainedWeights(source, found, parameter, scope)


def _fetch_checked(file: WeightsFile, scope: BuildScope | None, parameter: str) -> tuple[Fetched, LockedFile | None]:
    lock = scope.lock if scope is not None else None
    locked = None
    if lock is not None:
        entries = lock.entries(repository=file.repo_id or "", url=file.url or "", file=file.filename)
        if not entries:
            raise ParameterError(parameter, f"{file.origin} is not pinned by {lock.path}",
                                 f"run `zoo lock {scope.manifest_file}` after changing a reference "
                                 "(or build with --no-lock)")
        locked = entries[0]
    try:
        try:
            fetched = fetch_file(file)
        except WeightsUnavailable as missing:
            if locked is None or not locked.commit:
                raise
            try:  # fetched by its pinned commit only (`zoo fetch` of a lock on another machine)
                fetched = fetch_file(file, revision=locked.commit)
            except WeightsUnavailable:
                raise missing from None
    except WeightsUnavailable as exc:
        command = scope.fetch_command if scope is not None else "zoo fetch MANIFEST"
        raise ParameterError(parameter, str(exc), f"on a machine with network access run `{command}`, then "
                             "copy its caches (HF_HOME, TORCH_HOME) here") from None
    except FlexzooError as exc:
        raise ParameterError(parameter, str(exc), "check the reference's repository, revision and file") from None
    if locked is not None and locked.commit and fetched.commit != locked.commit:
        assert scope is not None and lock is not None
        raise ParameterError(parameter, mismatch(lock, locked, f"revision {file.revision or 'main'}: commit",
                                                 locked.commit, str(fetched.commit), scope.upgrade_command),
                             f"or pin the reference to the locked commit: @{locked.commit}")
    return fetched, locked


class PretrainedWeights:
    """The files of a pretrained source, in the cache: read each once, hashed, checked, recorded."""

    def __init__(self, source: PretrainedSource, files: Mapping[str, tuple[Fetched, LockedFile | None]],
                 parameter: str, scope: BuildScope | None) -> None:
        self.source = source
        self._files = dict(files)
        self._parameter = parameter
        self._scope = scope
        self._record: dict[str, Any] | None = None
        self.preprocessing: dict[str, Any] = dict(source.preprocessing)

    def path(self, filename: str | None = None) -> Path:
        """Where a file (default: the weights, the source's first file) is in the cache."""
        return self._fetched(filename)[0].path

    def commit(self, filename: str | None = None) -> str | None:
        """The commit a Hub file's revision resolved to (None for a URL)."""
        return self._fetched(filename)[0].commit

    def shapes(self, filename: str | None = None) -> dict[str, tuple[int, ...]]:
        """The tensors' names and shapes, without reading their values (for the dry run): from a
        ``.safetensors`` header, or a torch file memory-mapped (``weights_only=True``)."""
        if self.path(filename).suffix != ".safetensors":
            import torch

            try:
                loaded = torch.load(self.path(filename), map_location="cpu", mmap=True, weights_only=True)
            except Exception as exc:
                raise ParameterError(self._parameter, f"{self.path(filename)} is not a weights file torch loads with "
                                     f"weights_only=True ({type(exc).__name__})") from None
            return {name: tuple(t.shape) for name, t in loaded.items()}
        try:
            return {name: tuple(entry["shape"]) for name, entry in read_header(self.path(filename)).tensors.items()}
        except ArtifactError as exc:
            raise ParameterError(self._parameter, str(exc), "the cached file is damaged: delete it and run "
                                 f"`zoo fetch {self._scope.manifest_file if self._scope else 'MANIFEST'}`") from None

    def read(self, filename: str | None = None) -> bytes:
        """A file's bytes, read once: hashed, checked against the lock, recorded for the artifact."""
        fetched, locked = self._fetched(filename)
        data = fetched.path.read_bytes()
        sha256 = hashlib.sha256(data).hexdigest()
        scope = self._scope
        if locked is not None and locked.sha256 != sha256:
            assert scope is not None and scope.lock is not None
            raise ParameterError(self._parameter, mismatch(scope.lock, locked, "sha256", locked.sha256, sha256,
                                                           scope.upgrade_command))
        self._remember(fetched, sha256, len(data))
        return data

    def state_dict(self, filename: str | None = None) -> dict[str, torch.Tensor]:
        """The tensors of a weights file: safetensors, or a torch file loaded with ``weights_only=True``."""
        path = self.path(filename)
        data = self.read(filename)
        if path.suffix == ".safetensors":
            from safetensors.torch import load

            return load(data)
        import torch

        try:  # never unpickled without weights_only: a checkpoint holds tensors, not code
            loaded = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
        except Exception as exc:
            raise ParameterError(self._parameter, f"{path} is not a weights file torch loads with weights_only=True "
                                 f"({type(exc).__name__}: {str(exc).strip().splitlines()[0]})") from None
        return loaded.get("state_dict", loaded) if isinstance(loaded, dict) else loaded

    def config(self, filename: str) -> dict[str, Any]:
        """A JSON file of the source (``config.json``), read once like the weights."""
        try:
            return json.loads(self.read(filename))
        except ValueError as exc:
            raise ParameterError(self._parameter, f"{self.path(filename)} is not JSON ({exc})") from None

    def describe(self, preprocessing: Mapping[str, Any]) -> None:
        """Add what the weights' own config declares (mean, std, input_size, interpolation, label_names)."""
        self.preprocessing.update({k: v for k, v in preprocessing.items() if v is not None})
        if self._record is not None:
            self._record["preprocessing"] = _plain(self.preprocessing)

    def _fetched(self, filename: str | None) -> tuple[Fetched, LockedFile | None]:
        name = filename or self.source.files[0].filename
        if name not in self._files:
            raise KeyError(f"{name!r} is not a file of {self.source.reference!r}; it has {sorted(self._files)}")
        return self._files[name]

    def _remember(self, fetched: Fetched, sha256: str, size: int) -> None:
        """Record a file read in the build's scope (the real build, not the dry run)."""
        scope = self._scope
        if scope is None or not scope.recording:
            return
        if self._record is None:
            self._record = {"reference": self.source.reference, "library": self.source.library,
                            "files": [], "preprocessing": _plain(self.preprocessing)}
            scope.records.append(self._record)
        file = fetched.file
        entry = ({"repository": file.repo_id, "revision": file.revision or "main", "commit": fetched.commit}
                 if file.repo_id else {"url": file.url})
        self._record["files"].append({**entry, "file": file.filename, "size": size, "sha256": sha256})


def _plain(value: Any) -> Any:
    """JSON-ready: tuples as lists, everything else as it is."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
