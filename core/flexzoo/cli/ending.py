"""How the ``zoo`` process ends once :func:`flexzoo.cli.main` has returned: quickly, and without an abort at exit.

Any ``zoo`` process: at exit the interpreter's last garbage collections walk every object still alive, after
torch and timm are imported about a second on two cores, as long as a resnet50's build. Freezing them first
(they are never collected in a process that is ending anyway) leaves about 0.2 s. Finalizers and ``atexit``
functions still run, and objects freed by reference counting are freed as before; only garbage in reference
cycles is left to the operating system, as at any exit.

A rank of a distributed run (started by torchrun or ``zoo train --nproc``) does not finalize the interpreter
at all. gloo's worker threads live as long as their process group, and the group outlives
``destroy_process_group`` while anything holds it: under FSDP2 the sharded model's device mesh does, and so do
torch's DTensor caches. A worker that lets go of a finished collective's tensors while the interpreter
finalizes cannot take the GIL; the thread is ended in C++ code that may not unwind, and the process aborts
("terminate called without an active exception", exit -6) after a run that succeeded. A rank other than 0
ends right after its last collective, so it is the one that meets this: once in a CI run of
``test_two_fsdp_ranks_under_torchrun_match_one_rank``, and in a one-rank gloo group with no flexzoo at all
that exits right after a collective, under load. So a rank does what finalization would do for it and no
more: it waits for its other (non-daemon) threads, runs its ``atexit`` functions, flushes its streams and
leaves with :func:`os._exit`. What it wrote is complete before :func:`~flexzoo.cli.main` returns (artifacts,
checkpoints and reports are written atomically and closed).
"""

from __future__ import annotations

import contextlib
import gc
import os
import sys

__all__ = ["end"]


def end(status: int) -> int:
    """End the process with ``status``: a rank leaves at once (see above); any other process returns ``status``
    to its caller with the heap frozen, for ``raise SystemExit``."""
    if "torch" in sys.modules:  # a process that never imported torch has no process group
        from flexzoo.training.launch import inside_torchrun

        if inside_torchrun():
            _leave(status)
    gc.freeze()
    return status


def _leave(status: int) -> None:
    import atexit
    import threading

    current = threading.current_thread()
    for thread in threading.enumerate():
        if thread is not current and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # closed, or a reader that went away: nothing reaches it
            stream.flush()
    os._exit(status)
