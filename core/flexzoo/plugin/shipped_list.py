"""A plugin's shipped list of a library's architectures: what lets ``zoo list`` run without importing the library.

A JSON file in the plugin holds the names one release of the library offers (and, where a plugin needs them,
a detail per name) with that release's version. It is kept true to the installed library in two ways: the
plugin's tests compare it with the installed library (and fail, naming the command that rewrites it), and the
plugin's factory, which imports the library anyway, warns once when the installed release is another.
The plugin's ``model_list`` module makes one :class:`ShippedList` and runs its :meth:`~ShippedList.main`::

    python -m flexzoo_plugin_NAME.model_list [--write]

Torch-free: reading the list imports only json.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from flexzoo.atomic import write_atomically

__all__ = ["Listing", "ShippedList", "release"]


def release(version: str) -> str:
    """The public release of a version: "0.29.1+cu130" and "0.29.1+cpu" are both 0.29.1."""
    return version.partition("+")[0]


@dataclass(frozen=True)
class Listing:
    """The names one release of a library offers; ``details`` maps a name to what the plugin records of it."""

    version: str
    names: tuple[str, ...]
    details: Mapping[str, str] = field(default_factory=dict)


class ShippedList:
    """The list at ``path`` of what ``library`` offers, rewritten by ``python -m MODULE --write``.

    ``installed(shipped)`` gives the installed library's listing (it imports the library; it is handed
    the shipped listing for plugins whose list is curated); ``problems(installed)`` says, when not
    empty, why the installed library cannot be listed as it is (the list is then neither written nor
    passed).
    """

    def __init__(self, library: str, path: Path, module: str, installed: Callable[[Listing], Listing],
                 problems: Callable[[Listing], str] | None = None) -> None:
        self.library = library
        self.path = path
        self.regenerate = f"python -m {module} --write"
        self._installed = installed
        self._problems = problems
        self._shipped: Listing | None = None
        self._warned = False

    def read(self) -> Listing:
        """The shipped listing (no import of the library)."""
        if self._shipped is None:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            self._shipped = Listing(data["version"], tuple(data["names"]), dict(data.get("details", {})))
        return self._shipped

    def installed(self) -> Listing:
        """The listing the installed library gives (imports it)."""
        return self._installed(self.read())

    def warn_if_stale(self, installed_version: str) -> None:
        """Warn once when the installed library is not the release the shipped list came from."""
        shipped = self.read().version
        if release(installed_version) != shipped and not self._warned:
            self._warned = True
            warnings.warn(f"the {self.library} plugin lists what {self.library} {shipped} offers, but {self.library} "
                          f"{installed_version} is installed; `zoo list` may be off until `{self.regenerate}`",
                          stacklevel=3)

    def write(self, listing: Listing) -> None:
        """Write ``listing`` atomically as the shipped list."""
        data = {"library": self.library, "version": listing.version, "names": list(listing.names),
                **({"details": dict(listing.details)} if listing.details else {})}
        text = json.dumps(data, indent=0) + "\n"
        write_atomically(self.path, lambda target: target.write_text(text, encoding="utf-8"))
        self._shipped = None

    def main(self, argv: Sequence[str] | None = None) -> int:
        """Check the shipped list against the installed library (exit 1 when they differ), or ``--write`` it."""
        parser = argparse.ArgumentParser(description=f"Check or rewrite the shipped list of {self.library}'s names.")
        parser.add_argument("--write", action="store_true", help=f"rewrite {self.path.name} from the installed "
                            f"{self.library}")
        args = parser.parse_args(argv)
        installed, shipped = self.installed(), self.read()
        problem = self._problems(installed) if self._problems else ""
        if problem:
            print(f"{self.path}: {problem}", file=sys.stderr)
            return 1
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
