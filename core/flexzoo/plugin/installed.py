"""What the installed distributions' metadata says, read once per state of ``sys.path`` and kept in a cache file.

Reading the metadata costs importing importlib.metadata (email, zipfile, csv: 15-25 ms) and about 40 µs a
distribution, which ``zoo list`` would pay on every run for the ``flexzoo`` entry points and for the versions
of the libraries whose names plugins list. So each answer (``installed.entry_points("flexzoo")``,
``installed.version("timm")``) is kept in one small JSON file keyed on the ``sys.path`` entries and the
distributions they hold (see :func:`state`). A key seen for the first time, or an answer not asked for before,
is read from the metadata and added to the file.

The distributions are known without listing a directory on every run, as stevedore does: installing,
upgrading or removing a distribution adds or removes a ``.dist-info`` directory, which changes its site
directory's modification time. While every entry's time is what it was, the distributions are taken as they
were (from a small memo file); when one changed, the entries are listed again, and a time that changed for
another reason (``python -m flexzoo`` puts the working directory on ``sys.path``, and a build writes there)
keeps the same key, so the answers are not read again and no new cache file is written.

``FLEXZOO_NO_CACHE=1`` turns the cache off; ``FLEXZOO_CACHE_DIR`` moves it (see :func:`cache_directory`).
Torch-free, and cheap on a hit: os, json and zlib only (``zoo list`` may read its listing from this cache too).
"""

from __future__ import annotations

import json
import os
import sys

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing
if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path
    from typing import Any

__all__ = ["NO_CACHE_ENV", "cache_directory", "cache_file", "cached", "read_json", "state", "version", "write_json"]

NO_CACHE_ENV = "FLEXZOO_NO_CACHE"
CACHE_DIR_ENV = "FLEXZOO_CACHE_DIR"
_FORMAT = 3

#: This process's view: (the sys.path state it was read for, the answers); read from the file once.
_answers: tuple[list[Any], dict[str, Any]] | None = None
#: The memo :func:`state` last read or wrote: the entries, their times, the digest of their distributions.
_known: dict[str, Any] | None = None


def cache_directory() -> Path:
    """flexzoo's per-user cache: ``$FLEXZOO_CACHE_DIR``, else ``$XDG_CACHE_HOME/flexzoo``, else ``~/.cache/flexzoo``."""
    from pathlib import Path

    return Path(_cache_folder())


def _cache_folder() -> str:
    return os.environ.get(CACHE_DIR_ENV) or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "flexzoo")


def state() -> list[Any]:
    """What the answers depend on: the interpreter, the ``sys.path`` entries, and a digest of the distributions
    they hold (each ``.dist-info`` and ``.egg-info`` with its modification time), remembered for the entries'
    own modification times so that it is worked out again only when one of those changed."""
    global _known
    entries = list(sys.path)
    stamps = _stamps(entries)
    if _known is not None and _known["entries"] == entries and _known["stamps"] == stamps:
        return [_FORMAT, sys.version, entries, _known["distributions"]]  # the memo file is read once a process
    memo_file = cache_file("paths", [_FORMAT, sys.version, entries])
    memo = read_json(memo_file)
    if not (isinstance(memo, dict) and memo.get("entries") == entries and memo.get("stamps") == stamps and
            isinstance(memo.get("distributions"), str)):
        # the times taken before the listing: a change while it runs is seen on the next run
        memo = {"entries": entries, "stamps": stamps, "distributions": _distributions_digest(entries)}
        write_json(memo_file, memo)
    _known = memo
    return [_FORMAT, sys.version, entries, memo["distributions"]]


def _stamps(entries: list[str]) -> list[int | None]:
    """Each entry's modification time (None for one that does not exist)."""
    stamps: list[int | None] = []
    for entry in entries:
        try:
            stamps.append(os.stat(entry or ".").st_mtime_ns)
        except OSError:
            stamps.append(None)
    return stamps


#: The names importlib.metadata reads a distribution from.
_DISTRIBUTION_SUFFIXES = (".dist-info", ".egg-info")


def _distributions_digest(entries: list[str]) -> str:
    """A digest of each entry's distributions (name and modification time; a file entry, a zip, by its own time)."""
    import zlib

    found: list[Any] = []
    for entry in entries:
        try:
            with os.scandir(entry or ".") as children:
                found.append(sorted([child.name, child.stat().st_mtime_ns] for child in children
                                    if child.name.endswith(_DISTRIBUTION_SUFFIXES)))
        except NotADirectoryError:
            found.append(_stamps([entry]))
        except OSError:
            found.append(None)
    text = json.dumps(found).encode()
    return f"{zlib.crc32(text):08x}{zlib.adler32(text):08x}"


def cache_file(kind: str, key: object) -> str:
    """The file in flexzoo's cache of the ``kind`` of answers kept for ``key`` (JSON-able): a name made from the key;
    the file holds the whole key, so that a clash of names only costs answering again."""
    import zlib

    return os.path.join(_cache_folder(), f"{kind}-{zlib.crc32(json.dumps(key).encode()):08x}.json")


def read_json(path: str) -> Any:
    """The JSON in ``path``, or None when it is missing or not JSON (half-written by an older version)."""
    try:
        with open(path, encoding="utf-8") as stream:
            return json.load(stream)
    except (OSError, ValueError):
        return None


def write_json(path: str, data: object) -> None:
    """Write ``data`` to ``path`` atomically; a cache that cannot be written only costs answering again."""
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        partial = f"{path}.{os.getpid()}.partial"
        with open(partial, "w", encoding="utf-8") as stream:
            json.dump(data, stream)
        os.replace(partial, path)  # a reader sees the old file or the new one, never half
    except OSError:
        pass


def _read(now: list[Any]) -> dict[str, Any]:
    data = read_json(cache_file("installed", now))
    if data is None:
        return {}  # no cache for this state yet: ask the metadata
    if not isinstance(data, dict) or data.get("state") != now or not isinstance(data.get("answers"), dict):
        return {}
    return data["answers"]


def cached(question: str, answer: Callable[[], Any]) -> Any:
    """The answer to ``question`` for the installed distributions as they are now: from the cache when ``sys.path``
    has not changed since it was asked, else ``answer()`` (which reads the metadata; JSON-able), kept for next time."""
    global _answers
    if os.environ.get(NO_CACHE_ENV):
        return answer()
    now = state()
    if _answers is None or _answers[0] != now:
        _answers = (now, _read(now))
    answers = _answers[1]
    if question not in answers:
        answers[question] = answer()
        write_json(cache_file("installed", now), {"state": now, "answers": answers})
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
