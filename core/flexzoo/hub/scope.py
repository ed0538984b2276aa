"""The build in progress, as the pretrained weights see it: its manifest, its lock, and what was read.

The pipeline opens a :func:`building` scope around a build; plugin factories call
:func:`flexzoo.plugin.fetch_pretrained`, which checks each file against the scope's lock and records
what it read for the artifact. Outside a scope (``zoo validate``, a factory called by hand) nothing is
locked or recorded. ``zoo build --no-lock`` opens :func:`ignoring_lock` around the build.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flexzoo.errors import FlexzooError
from flexzoo.hub.digest import file_sha256, tree_sha256
from flexzoo.hub.lock import Lock, LockedFile, lock_path

__all__ = ["BuildScope", "LockMismatch", "building", "current_scope", "ignoring_lock", "lock_beside"]

_SCOPE: ContextVar[BuildScope | None] = ContextVar("flexzoo_build_scope", default=None)
_IGNORE_LOCK: ContextVar[bool] = ContextVar("flexzoo_ignore_lock", default=False)


class LockMismatch(FlexzooError):
    """A file differs from what the manifest's lock pinned."""


@dataclass
class BuildScope:
    """One build: the manifest file (for the commands messages suggest), its lock, and the sources read."""

    manifest_file: str
    lock: Lock | None = None
    records: list[dict[str, Any]] = field(default_factory=list)
    recording: bool = False

    @property
    def fetch_command(self) -> str:
        return f"zoo fetch {self.manifest_file or 'MANIFEST'}"

    @property
    def upgrade_command(self) -> str:
        return f"zoo lock --upgrade {self.manifest_file or 'MANIFEST'}"

    @contextlib.contextmanager
    def recording_sources(self) -> Iterator[list[dict[str, Any]]]:
        """Within the block, every pretrained file read is recorded (the real build; not the dry run)."""
        self.recording = True
        try:
            yield self.records
        finally:
            self.recording = False

    def check_local_files(self) -> None:
        """Hash every local file or folder the lock pins and refuse one that changed, naming its key."""
        if self.lock is None:
            return
        base = Path(self.manifest_file).parent
        for entry in self.lock.files:
            if not entry.path:
                continue
            path = base / entry.path
            if not path.exists():
                raise LockMismatch(f"{self.lock.path}: {entry.key} = {entry.reference!r}: {path} is missing; "
                                   f"restore it, or run `{self.upgrade_command}`")
            sha, _ = tree_sha256(path) if path.is_dir() else file_sha256(path)
            if sha != entry.sha256:
                raise LockMismatch(mismatch(self.lock, entry, "sha256", entry.sha256, sha, self.upgrade_command))


def mismatch(lock: Lock, entry: LockedFile, what: str, expected: str, found: str, upgrade: str) -> str:
    """The one message for a file that differs from its lock: key, file, expected and found."""
    return (f"[{entry.key}] {entry.where} differs from {lock.path}: {what} expected {expected}, found {found}; "
            f"if the change is wanted, run `{upgrade}`, else restore the file")


def lock_beside(manifest_file: str | Path) -> Lock | None:
    """The lock beside a manifest, read; None when there is none or ``--no-lock`` is in force."""
    if _IGNORE_LOCK.get() or not manifest_file:
        return None
    path = lock_path(manifest_file)
    return Lock.read(path) if path.is_file() else None


def current_scope() -> BuildScope | None:
    """The build in progress in this context, if any."""
    return _SCOPE.get()


@contextlib.contextmanager
def building(manifest_file: str) -> Iterator[BuildScope]:
    """A build of ``manifest_file``, under the lock beside it (unless ignored); local files are checked first."""
    scope = BuildScope(manifest_file, lock_beside(manifest_file) if Path(manifest_file).is_file() else None)
    scope.check_local_files()
    token = _SCOPE.set(scope)
    try:
        yield scope
    finally:
        _SCOPE.reset(token)


@contextlib.contextmanager
def ignoring_lock() -> Iterator[None]:
    """Within the block builds use no lock (``--no-lock``)."""
    token = _IGNORE_LOCK.set(True)
    try:
        yield
    finally:
        _IGNORE_LOCK.reset(token)
