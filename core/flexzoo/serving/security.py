"""Who may use ``/admin`` and which files it may load.

- Without a token, ``/admin`` exists only when the server listens on loopback alone (127.0.0.0/8, ``::1``,
  ``localhost``): whoever can reach it is already on the machine. Anywhere else it is not routed (404).
- A token is compared in constant time (:func:`hmac.compare_digest`), so the answer's timing says nothing
  about how much of a guess was right.
- A path is loaded only when it resolves (symbolic links and ``..`` followed) inside a directory named at
  start-up (``--model-dir``, and the ``--watch`` directory). Every other path is refused with one message
  that is the same whether or not the file exists, so the server's file system cannot be probed through it.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from flexzoo.errors import FlexzooError

__all__ = ["MIN_TOKEN_LENGTH", "AdminAccess", "PathRefused", "is_loopback"]

MIN_TOKEN_LENGTH = 16

REFUSED = ("load refused: the path is not inside a model directory of this server; place the artifact in one "
           "of the directories given with --model-dir (or --watch) and send its path there")


class PathRefused(FlexzooError):
    """An admin load named a path outside the model directories (the message never depends on the file)."""


def is_loopback(host: str) -> bool:
    """Whether ``host`` (what the server binds) is reachable from this machine only."""
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False  # a host name other than localhost may resolve to anything
    mapped = getattr(address, "ipv4_mapped", None)  # ::ffff:127.0.0.1
    return (mapped or address).is_loopback


@dataclass(frozen=True)
class AdminAccess:
    """The admin policy of one server: on or off, its token, the directories it may load from."""

    enabled: bool
    token: str | None
    model_dirs: tuple[Path, ...]

    @classmethod
    def configure(cls, host: str, token: str | None, model_dirs: Sequence[str | Path] = ()) -> AdminAccess:
        """The policy for a server bound to ``host``; refuses a token too short to resist guessing."""
        token = token or None
        if token is not None and len(token) < MIN_TOKEN_LENGTH:
            raise FlexzooError(f"the admin token is {len(token)} characters; use at least {MIN_TOKEN_LENGTH} "
                               "(for example `python -c \"import secrets; print(secrets.token_urlsafe(32))\"`)")
        directories = []
        for directory in model_dirs:
            resolved = Path(directory).expanduser().resolve()
            if not resolved.is_dir():
                raise FlexzooError(f"{directory}: not a directory; --model-dir and --watch take a folder of artifacts")
            directories.append(resolved)
        return cls(token is not None or is_loopback(host), token, tuple(dict.fromkeys(directories)))

    def authorized(self, authorization: str | None) -> bool:
        """Whether an ``Authorization`` header value grants admin access (always, without a token)."""
        if self.token is None:
            return True
        return hmac.compare_digest((authorization or "").encode(), f"Bearer {self.token}".encode())

    def confine(self, path: str) -> Path:
        """``path`` resolved, when it lies inside a model directory; :class:`PathRefused` otherwise."""
        try:
            resolved = Path(path).expanduser().resolve()
        except (OSError, ValueError, RuntimeError):  # a NUL byte, a symbolic-link loop
            raise PathRefused(REFUSED) from None
        if not any(resolved.is_relative_to(directory) for directory in self.model_dirs):
            raise PathRefused(REFUSED)
        return resolved
