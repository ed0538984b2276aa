"""The builtin strategy: one process, the model as it is."""

from __future__ import annotations

from flexzoo.plugin import SingleProcess


def single() -> SingleProcess:
    """One process, no wrapping (the default strategy)."""
    return SingleProcess()
