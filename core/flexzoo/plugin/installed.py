"""What the installed distributions' metadata says, read once per state of ``sys.path`` and kept in a cache file.

Reading the metadata costs importing importlib.metadata (email, zipfile, csv: 15-25 ms) and about 40 µs a
distribution, which ``zoo list`` would pay on every run for the ``flexzoo`` entry points and for the versions
of the libraries whose names plugins list. So each answer (``installed.entry_points("flexzoo")``,
``installed.version("timm")``) is kept in one small JSON file keyed on the ``sys.path`` entries and their
modification times, as stevedore does: installing, upgrading or removing a distribution adds or removes a
``.dist-info`` directory, which changes its site directory's time and so the key. A key seen for the first
time, or an answer not asked for before, is read from the metadata and added to the file.

``FLEXZOO_NO_CACHE=1`` turns the cache off; ``FLEXZOO_CACHE_DIR`` moves it (see :func:`cache_directory`).
Torch-free, and cheap on a hit: os, json and zlib only.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["NO_CACHE_ENV", "cache_directory", "cached", "version"]

NO_CACHE_ENV = "FLEXZOO_NO_CACHE"
CACHE_DIR_ENV = "FLEXZOO_CACHE_DIR"
_FORMAT = 2

#: This process's view: (the sys.path state it was read for, the answers); read from the file once.
_answers: tuple[list[Any], dict[str, Any]] | None = None


def cache_directory() -> Path:
    """flexzoo's per-user cache: ``$FLEXZOO_CACHE_DIR``, else ``$XDG_CACHE_HOME/flexzoo``, else ``~/.cache/flexzoo``."""
    base = os.environ.get(CACHE_DIR_ENV) or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "flexzoo")
    return Path(base)


def _state() -> list[Any]:
    """What the answers depend on: the interpreter, and each ``sys.path`` entry with its modification time."""
    stamps: list[Any] = [_FORMAT, sys.version]
    for entry in sys.path:
        try:
            stamps.append([entry, os.stat(entry or ".").st_mtime_ns])
        except OSError:
            stamps.append([entry, None])
    return stamps


def _cache_file(state: list[Any]) -> Path:
    import zlib  # a name for the file; the file holds the whole state, so a clash only costs a new scan

    return cache_directory() / f"installed-{zlib.crc32(json.dumps(state).encode()):08x}.json"


def _read(state: list[Any]) -> dict[str, Any]:
    try:
        data = json.loads(_cache_file(state).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}  # no cache for this state yet, or one half-written by an older version: ask the metadata
    if not isinstance(data, dict) or data.get("state") != state or not isinstance(data.get("answers"), dict):
        return {}
    return data["answers"]


def _write(state: list[Any], answers: dict[str, Any]) -> None:
    path = _cache_file(state)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{os.getpid()}")
        partial.write_text(json.dumps({"state": state, "answers": answers}), encoding="utf-8")
        os.replace(partial, path)  # a reader sees the old file or the new one, never half
    except OSError:
        pass  # a read-only home only costs reading the metadata again


def cached(question: str, answer: Callable[[], Any]) -> Any:
    """The answer to ``question`` for the installed distributions as they are now: from the cache when ``sys.path``
    has not changed since it was asked, else ``answer()`` (which reads the metadata; JSON-able), kept for next time."""
    global _answers
    if os.environ.get(NO_CACHE_ENV):
        return answer()
    state = _state()
    if _answers is None or _answers[0] != state:
        _answers = (state, _read(state))
    answers = _answers[1]
    if question not in answers:
        answers[question] = answer()
        _write(state, answers)
    return answers[question]


def version(distribution: str) -> str | None:
    """The installed version of ``distribution`` (``importlib.metadata.version``), or None when it is not installed."""

    def read() -> str | None:
        import importlib.metadata

        try:
            return importlib.metadata.version(distribution)
        except importlib.metadata.PackageNotFoundError:
            return None

    return cached(f"version:{distribution}", read)
