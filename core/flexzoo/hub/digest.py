"""sha256 of files and folders, in one pass over their bytes."""

from __future__ import annotations

import hashlib
from pathlib import Path

__all__ = ["file_sha256", "tree_sha256"]

_CHUNK = 1 << 22


def file_sha256(path: str | Path) -> tuple[str, int]:
    """The sha256 and size of a file, read once in chunks."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def tree_sha256(folder: str | Path) -> tuple[str, int]:
    """A folder's digest: the sha256 of each file's relative path and sha256, sorted; and the bytes of all files.

    Hidden files and folders (``.git``, ``.cache``) are left out: they are no part of the data.
    """
    folder = Path(folder)
    digest = hashlib.sha256()
    total = 0
    for path in sorted(p for p in folder.rglob("*") if p.is_file()
                       and not any(part.startswith(".") for part in p.relative_to(folder).parts)):
        sha, size = file_sha256(path)
        digest.update(f"{path.relative_to(folder).as_posix()}\0{sha}\n".encode())
        total += size
    return digest.hexdigest(), total
