"""A plugin's list of a library's architectures that stays true to whichever release is installed.

``zoo list`` must not import the library (timm, torchvision, transformers, keras: seconds and gigabytes), so
a listing plugin ships a JSON file of the names one release offers, with that release's version. When the
installed release is that one (the installed metadata tells, without importing the library), the shipped
file is the listing: the zero-cost default. When another release is installed, the listing is made once by
a subprocess that imports the library (``python -m MODULE --json``), kept in flexzoo's per-user cache
(``listings/`` under ``$FLEXZOO_CACHE_DIR``, else ``$XDG_CACHE_HOME/flexzoo``) keyed by library and exact
version, and read from there afterwards; the first run says on stderr what it did. A cache directory that
cannot be written falls back to the shipped list with one warning, and so does a library that cannot be
listed. A cache file that does not parse, or was made from another shipped list, is made again.

The plugin's ``model_list`` module makes one :class:`ShippedList` and runs its :meth:`~ShippedList.main`,
which maintainers use to check or rewrite the shipped file::

    python -m flexzoo_plugin_NAME.model_list [--write]

Torch-free and cheap: listing reads the shipped JSON file and the installed version, which
:mod:`flexzoo.plugin.installed` keeps in its cache (importlib.metadata is imported only when sys.path changed).
"""

from __future__ import annotations

import json
import os
import sys
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from flexzoo.plugin import installed as metadata
from flexzoo.plugin.installed import CACHE_DIR_ENV, cache_directory

__all__ = ["CACHE_DIR_ENV", "FILES_READ", "Listing", "ShippedList", "cache_directory", "listing_cache_directory",
           "release"]

#: How long listing a library in a subprocess may take before the shipped list is used instead.
REGENERATE_TIMEOUT_S = 600


#: Every file a listing was read from, or written to, in this process: ``zoo list`` keeps the listing it made only
#: while they stay as they are (:mod:`flexzoo.host.listing`).
FILES_READ: set[str] = set()


def release(version: str) -> str:
    """The public release of a version: "0.29.1+cu130" and "0.29.1+cpu" are both 0.29.1."""
    return version.partition("+")[0]


def listing_cache_directory() -> Path:
    """Where listings made for installed releases are kept: ``listings/`` in flexzoo's per-user cache."""
    return cache_directory() / "listings"


@dataclass(frozen=True)
class Listing:
    """The names one release of a library offers; ``details`` maps a name to what the plugin records of it."""

    version: str
    names: tuple[str, ...]
    details: Mapping[str, str] = field(default_factory=dict)

    def to_json(self, library: str, **extra: str) -> str:
        """The listing as the JSON the shipped file and the cache hold (stable order, one name a line)."""
        data = {"library": library, "version": self.version, **extra, "names": list(self.names),
                **({"details": dict(self.details)} if self.details else {})}
        return json.dumps(data, indent=0) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Listing:
        """Read :meth:`to_json`'s text; ``ValueError`` (or ``KeyError``/``TypeError``) when it is not one."""
        data = json.loads(text)
        names, details = data["names"], data.get("details", {})
        if not (isinstance(names, list) and all(isinstance(n, str) for n in names) and isinstance(details, dict)
                and all(isinstance(v, str) for v in details.values())):
            raise ValueError("names must be a list of strings and details a table of strings")
        return cls(str(data["version"]), tuple(names), dict(details))


class ShippedList:
    """The list at ``path`` of what ``library`` offers, made true to the installed release by :meth:`listing`.

    ``installed(shipped)`` gives the installed library's listing (it imports the library; it is handed
    the shipped listing for plugins whose list is curated); ``problems(installed)`` says, when not
    empty, why the installed library cannot be listed as it is (the list is then neither written nor
    used). ``distribution`` is the library's distribution name, when it is not ``library``.
    """

    def __init__(self, library: str, path: Path, module: str, installed: Callable[[Listing], Listing],
                 problems: Callable[[Listing], str] | None = None, distribution: str | None = None) -> None:
        self.library = library
        self.path = path
        self.module = module
        self.distribution = distribution or library
        self.regenerate = f"python -m {module} --write"
        self._installed = installed
        self._problems = problems
        self._shipped: Listing | None = None
        self._listing: Listing | None = None

    def read(self) -> Listing:
        """The shipped listing (no import of the library)."""
        if self._shipped is None:
            FILES_READ.add(str(self.path))
            self._shipped = Listing.from_json(self.path.read_text(encoding="utf-8"))
        return self._shipped

    def installed(self) -> Listing:
        """The listing the installed library gives (imports it)."""
        return self._installed(self.read())

    def installed_version(self) -> str | None:
        """The installed library's version from its metadata (no import); None when it is not installed."""
        return metadata.version(self.distribution)

    def listing(self) -> Listing:
        """What the installed release offers: the shipped list when it names that release, else the cached one.

        Imports nothing heavy: a release other than the shipped one is listed once, by a subprocess.
        """
        if self._listing is None:
            self._listing = self._true_listing()
        return self._listing

    def cache_path(self, version: str) -> Path:
        """The cache file of the listing of ``version`` (the exact installed version, local label included)."""
        safe = "".join(c if c.isalnum() or c in ".-_" else "_" for c in version)
        return listing_cache_directory() / f"{self.module}--{self.library}-{safe}.json"

    def _true_listing(self) -> Listing:
        shipped = self.read()
        version = self.installed_version()
        if version is None or release(version) == shipped.version:
            return shipped
        import hashlib

        cache = self.cache_path(version)
        fingerprint = hashlib.sha256(self.path.read_bytes()).hexdigest()
        cached = self._read_cache(cache, version, fingerprint)
        if cached is not None:
            return cached
        if not _writable_directory(cache.parent):
            return self._fall_back(f"the cache directory {cache.parent} cannot be written")
        made = self._list_in_subprocess()
        if isinstance(made, str):
            return self._fall_back(made)
        if release(made.version) != release(version):
            return self._fall_back(f"listing it gave version {made.version}")
        text = made.to_json(self.library, shipped_sha256=fingerprint)
        from flexzoo.atomic import write_atomically

        try:
            write_atomically(cache, lambda target: target.write_text(text, encoding="utf-8"))
        except OSError as exc:
            return self._fall_back(f"{cache} cannot be written ({exc.strerror or exc})")
        print(f"flexzoo: the {self.library} plugin ships the list of {self.library} {shipped.version}; "
              f"{self.library} {version} is installed, so its {len(made.names)} names were listed once into "
              f"{cache}", file=sys.stderr)
        return made

    def _read_cache(self, cache: Path, version: str, fingerprint: str) -> Listing | None:
        FILES_READ.add(str(cache))  # missing too: a kept `zoo list` is then not kept
        try:
            text = cache.read_text(encoding="utf-8")
            data = json.loads(text)
            listing = Listing.from_json(text)
        except (OSError, ValueError, KeyError, TypeError):
            return None  # missing or corrupt: made again and rewritten
        if data.get("shipped_sha256") != fingerprint or release(listing.version) != release(version):
            return None
        return listing

    def _list_in_subprocess(self) -> Listing | str:
        """The installed library's listing, made by ``python -m MODULE --json``; a string says why it failed."""
        import subprocess

        try:
            result = subprocess.run([sys.executable, "-m", self.module, "--json"], capture_output=True, text=True,
                                    timeout=REGENERATE_TIMEOUT_S, stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"listing it failed ({exc})"
        if result.returncode != 0:
            last = (result.stderr.strip().splitlines() or ["no message"])[-1]
            return f"listing it failed: {last}"
        try:
            return Listing.from_json(result.stdout)
        except (ValueError, KeyError, TypeError) as exc:
            return f"listing it gave no listing ({exc})"

    def _fall_back(self, why: str) -> Listing:
        shipped = self.read()
        warnings.warn(f"the {self.library} plugin lists what {self.library} {shipped.version} offers, but "
                      f"{self.library} {self.installed_version()} is installed and {why}; `zoo list` shows the "
                      f"{shipped.version} list", stacklevel=4)
        return shipped

    def write(self, listing: Listing) -> None:
        """Write ``listing`` atomically as the shipped list."""
        from flexzoo.atomic import write_atomically

        text = listing.to_json(self.library)
        write_atomically(self.path, lambda target: target.write_text(text, encoding="utf-8"))
        self._shipped = self._listing = None

    def main(self, argv: Sequence[str] | None = None) -> int:
        """Check the shipped list against the installed library (exit 1 when they differ), ``--write`` it,
        or print the installed listing as JSON (``--json``, what :meth:`listing` runs)."""
        import argparse

        parser = argparse.ArgumentParser(description=f"Check or rewrite the shipped list of {self.library}'s names.")
        action = parser.add_mutually_exclusive_group()
        action.add_argument("--write", action="store_true", help=f"rewrite {self.path.name} from the installed "
                            f"{self.library}")
        action.add_argument("--json", action="store_true", help=f"print the installed {self.library}'s listing")
        args = parser.parse_args(argv)
        installed, shipped = self.installed(), self.read()
        problem = self._problems(installed) if self._problems else ""
        if problem:
            print(f"{self.path}: {problem}", file=sys.stderr)
            return 1
        if args.json:
            sys.stdout.write(installed.to_json(self.library))
            return 0
        if args.write:
            self.write(installed)
            print(f"wrote {len(installed.names)} names of {self.library} {installed.version} to {self.path}")
            return 0
        if installed != shipped:
            print(f"{self.path} lists {self.library} {shipped.version} ({len(shipped.names)} names), the installed "
                  f"{self.library} is {installed.version} ({len(installed.names)}); run `{self.regenerate}`",
                  file=sys.stderr)
            return 1
        print(f"{self.path.name} is up to date with {self.library} {installed.version}")
        return 0


def _writable_directory(directory: Path) -> bool:
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return os.access(directory, os.W_OK | os.X_OK)
