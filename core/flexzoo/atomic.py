"""Atomic file writes: write beside the target, fsync, rename over it.

The new file is written inside a private ``.<name>.<pid>.partial`` directory next to the target
(so that temporary files a writer makes itself, as safetensors does, stay inside it too), then
renamed over the target. A process killed at any moment leaves either the previous file or the new
one at the target path, never a mix; a killed writer's partial directory is removed by the next
write to that path.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

__all__ = ["PARTIAL_SUFFIX", "atomic_path", "remove_stale_partials", "write_atomically"]

PARTIAL_SUFFIX = ".partial"


def _partial_directory(target: Path) -> Path:
    return target.with_name(f".{target.name}.{os.getpid()}{PARTIAL_SUFFIX}")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_partials(target: Path) -> None:
    """Delete the partial directories left at ``target`` by writers that no longer run."""
    for partial in target.parent.glob(f".{target.name}.*{PARTIAL_SUFFIX}"):
        pid = partial.name[len(target.name) + 2 : -len(PARTIAL_SUFFIX)]
        if pid.isdigit() and not _pid_alive(int(pid)):
            shutil.rmtree(partial, ignore_errors=True)


def _fsync_directory(directory: Path) -> None:
    with contextlib.suppress(OSError):  # not every file system lets a directory be opened
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces ``target`` atomically."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_partials(target)
    directory = _partial_directory(target)
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir()
    partial = directory / target.name
    try:
        yield partial
        with open(partial, "rb+") as written:
            os.fsync(written.fileno())
        os.replace(partial, target)
        _fsync_directory(target.parent)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def write_atomically(target: str | Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(temporary_path)``, then move the result to ``target`` atomically."""
    with atomic_path(target) as partial:
        write(partial)
    return Path(target)
