"""``MANIFEST.lock``: every external reference of a manifest pinned to a commit and a sha256 (TOML).

The file is written in a stable order (versions, plugins, then one ``[[file]]`` table per file, by
manifest key) so that a change shows as a small diff. It is read with ``tomllib`` and written by
the few lines below: its shape is fixed (strings and integers in flat tables), so no TOML writer
library is needed.
"""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from flexzoo.atomic import write_atomically
from flexzoo.errors import FlexzooError

__all__ = ["LOCK_VERSION", "Lock", "LockedFile", "lock_path"]

LOCK_VERSION = 1


def lock_path(manifest: str | Path) -> Path:
    """The lock beside a manifest: ``MANIFEST.lock`` (``model.toml`` -> ``model.toml.lock``)."""
    manifest = Path(manifest)
    return manifest.with_name(manifest.name + ".lock")


@dataclass(frozen=True)
class LockedFile:
    """One file a manifest's reference needs, pinned.

    :param key: the manifest key that names it (``backbone.pretrained``, ``train.data``, ``ensemble.members[0]``).
    :param reference: the value as the manifest wrote it.
    :param file: the file's name in its repository, or its path for a local file.
    :param repository: the Hub repository; ``revision``: as asked (``main``); ``commit``: what it resolved to.
    :param url: for a file fetched from a URL (torchvision's weights).
    :param path: a local file or folder, relative to the manifest's folder where it is inside it.
    :param size: bytes (of every file, for a folder).
    :param sha256: of the file's bytes (for a folder: of its files' relative paths and digests, sorted).
    """

    key: str
    reference: str
    file: str
    sha256: str
    size: int
    repository: str = ""
    revision: str = ""
    commit: str = ""
    url: str = ""
    path: str = ""

    @property
    def where(self) -> str:
        """The file, for messages: ``hf-hub:ORG/NAME@COMMIT/FILE``, the URL or the path."""
        if self.repository:
            return f"hf-hub:{self.repository}@{self.commit[:12] or self.revision}/{self.file}"
        return self.url or self.path

    def identity(self) -> tuple[str, str, str, str]:
        """What the same reference resolves to again: repository (or URL, or path) and file."""
        return (self.key, self.repository or self.url or self.path, self.file, self.reference)


@dataclass
class Lock:
    """A manifest's lock: the files, the versions they were resolved with, and the plugins."""

    manifest: str
    files: list[LockedFile] = field(default_factory=list)
    versions: dict[str, str] = field(default_factory=dict)
    plugins: dict[str, dict[str, str]] = field(default_factory=dict)
    path: Path | None = None  # where it was read from

    def entries(self, repository: str = "", url: str = "", file: str = "") -> list[LockedFile]:
        """The locked files of a repository (or URL) and file name."""
        return [e for e in self.files if (e.repository == repository if repository else e.url == url)
                and e.file == file]

    # -- reading and writing ---------------------------------------------------------------

    @classmethod
    def read(cls, path: str | Path) -> Lock:
        """Read a lock; a file that is not one is a FlexzooError naming it and what to do."""
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise FlexzooError(f"{path}: cannot read the lock file ({exc}); delete it and run `zoo lock` again") \
                from None
        if data.get("lock_version") != LOCK_VERSION:
            raise FlexzooError(f"{path}: lock_version {data.get('lock_version')!r} is not {LOCK_VERSION}; "
                               "run `zoo lock --upgrade` with this flexzoo")
        names = {f.name for f in fields(LockedFile)}
        try:
            files = [LockedFile(**{k: v for k, v in entry.items() if k in names}) for entry in data.get("file", [])]
        except TypeError as exc:
            raise FlexzooError(f"{path}: a [[file]] table is incomplete ({exc}); run `zoo lock --upgrade`") from None
        return cls(manifest=data.get("manifest", ""), files=files, versions=dict(data.get("versions", {})),
                   plugins={k: dict(v) for k, v in data.get("plugins", {}).items()}, path=path)

    def render(self) -> str:
        """The TOML text: stable order, one value per line, empty values left out."""
        lines = ["# Written by `zoo lock`: the exact files this manifest's references resolved to.",
                 "# `zoo build` refuses a file that differs; `zoo lock --upgrade` re-resolves them.",
                 f"lock_version = {LOCK_VERSION}", f"manifest = {_string(self.manifest)}", "", "[versions]"]
        lines += [f"{_key(name)} = {_string(value)}" for name, value in sorted(self.versions.items())]
        for name, plugin in sorted(self.plugins.items()):
            lines += ["", f"[plugins.{_key(name)}]"]
            lines += [f"{_key(k)} = {_string(v)}" for k, v in sorted(plugin.items())]
        for entry in sorted(self.files, key=lambda e: (e.key, e.file)):
            lines += ["", "[[file]]"]
            lines += [f"{name} = {_value(value)}" for name, value in asdict(entry).items() if value != ""]
        return "\n".join(lines) + "\n"

    def write(self, path: str | Path) -> Path:
        """Write the lock atomically."""
        text = self.render()
        return write_atomically(Path(path), lambda partial: Path(partial).write_text(text, encoding="utf-8"))


def _string(text: str) -> str:
    escaped = str(text).replace("\\", "\\\\").replace('"', '\\"')
    return '"' + "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in escaped) + '"'


def _value(value: Any) -> str:
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else _string(value)


def _key(name: str) -> str:
    bare = name.replace("-", "").replace("_", "").isalnum()
    return name if bare else _string(name)
