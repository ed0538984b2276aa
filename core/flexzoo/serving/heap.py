"""The server's heap: what is alive once the models are loaded is frozen, so serving's garbage collections skip it.

A full (oldest-generation) collection walks every object the process holds, with the event loop stopped, and
a server that imported torch, onnxruntime and a compiler holds half a million or more: in a digits server under
load at 32 connections they took 230-250 ms on onnxruntime and 300-360 ms under ``--runtime auto`` (which has
also imported and run the compiler and torch.export), two or three in 16 s. Frozen objects are left out of
every collection (:func:`gc.freeze`), so a collection walks only what serving itself made: 1-2 ms.

Objects are still freed when their last reference goes; only reference cycles among frozen objects wait. So
when a version is dropped the heap is thawed (:func:`release`), and once the version has served its last batch
it is settled again (flexzoo.serving.models): one full collection, which frees what the version left in cycles
(a pause of about 0.3 s per reload), instead of every later collection walking the whole heap.
"""

from __future__ import annotations

import gc

__all__ = ["release", "settle"]


def settle() -> None:
    """Collect the garbage that loading (or a dropped version) left, such as the runtimes ``--runtime auto`` timed
    and let go; freeze the rest."""
    gc.collect()
    gc.freeze()


def release() -> None:
    """Make the frozen objects collectable again (a version was dropped)."""
    gc.unfreeze()
