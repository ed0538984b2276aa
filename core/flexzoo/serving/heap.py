"""The server's heap: what is alive once the models are loaded is frozen, so serving's garbage collections skip it.

A full (oldest-generation) collection walks every object the process holds, and a server that imported torch,
onnxruntime and a compiler holds half a million or more: 214 ms for a digits server on onnxruntime, 334 ms for
the same model under ``--runtime auto`` (which has also imported and run the compiler and torch.export), each
time with the event loop stopped. Under load at 32 connections a server ran 12 and 13 of them in 24 s
(1.8 s and 2.3 s in all, some of it at start-up). Frozen objects are left out of every collection
(:func:`gc.freeze`): a collection then walks only what serving itself made.

Objects are still freed when their last reference goes; only reference cycles among frozen objects wait. So
when a version is dropped the heap is thawed (:func:`release`), and what that version leaves in cycles is
collected as before.
"""

from __future__ import annotations

import gc

__all__ = ["release", "settle"]


def settle() -> None:
    """Collect the garbage that loading left (the runtimes ``--runtime auto`` timed and let go); freeze the rest."""
    gc.collect()
    gc.freeze()


def release() -> None:
    """Make the frozen objects collectable again (a version was dropped)."""
    gc.unfreeze()
