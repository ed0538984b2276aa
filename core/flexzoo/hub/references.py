"""``hf-hub:ORG/NAME[@REVISION]``: how a manifest, ``flexzoo.load`` and the CLI name a Hub repository.

One parser for every place a reference is written (``pretrained =``, ``from =``, ensemble members,
``zoo inspect|predict|serve``), so they all accept and refuse the same texts with the same message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["PREFIX", "HubReference", "is_hub_reference"]

PREFIX = "hf-hub:"
_REPO_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*")
_REVISION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]*")


def is_hub_reference(text: object) -> bool:
    """Whether ``text`` is written as a Hub reference (it may still be malformed: :meth:`HubReference.parse` says)."""
    return isinstance(text, str) and text.startswith(PREFIX)


@dataclass(frozen=True)
class HubReference:
    """A Hub repository and, optionally, the revision (branch, tag or commit) it is pinned to."""

    repo_id: str
    revision: str | None = None

    @classmethod
    def parse(cls, text: str) -> HubReference:
        """Read ``hf-hub:ORG/NAME[@REVISION]``; a ``ValueError`` says what is wrong and what is expected."""
        if not is_hub_reference(text):
            raise ValueError(f"{text!r} is not a Hub reference; write it as `{PREFIX}ORG/NAME[@REVISION]`")
        repo_id, at, revision = text[len(PREFIX):].partition("@")
        if not _REPO_ID.fullmatch(repo_id) or ".." in repo_id:
            raise ValueError(f"{text!r}: the repository must be written ORG/NAME (letters, digits, '.', '_', '-'), "
                             f"for example `{PREFIX}timm/resnet50.a1_in1k`")
        if at and (not _REVISION.fullmatch(revision) or ".." in revision):
            raise ValueError(f"{text!r}: the revision after '@' must be a branch, tag or commit id")
        return cls(repo_id, revision or None)

    @property
    def pinned(self) -> str:
        """The revision to ask the Hub for: the one given, else ``main``."""
        return self.revision or "main"

    def __str__(self) -> str:
        return f"{PREFIX}{self.repo_id}" + (f"@{self.revision}" if self.revision else "")
