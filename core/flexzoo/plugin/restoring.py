"""Whether the model being built is about to receive stored weights, as ``flexzoo.load`` does.

A factory that loads weights of its own (a ``pretrained`` file) skips them while this is true:
the artifact's tensors replace them anyway, and the artifact must rebuild without that file.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

__all__ = ["restoring_weights", "weights_restored_afterwards"]

_restoring: ContextVar[bool] = ContextVar("flexzoo_restoring_weights", default=False)


def restoring_weights() -> bool:
    """True while ``flexzoo.load`` rebuilds a model whose weights it then overwrites."""
    return _restoring.get()


@contextmanager
def weights_restored_afterwards() -> Iterator[None]:
    """Mark the builds inside as ones whose weights are replaced from an artifact."""
    token = _restoring.set(True)
    try:
        yield
    finally:
        _restoring.reset(token)
