"""``zoo train --nproc N``: N local ranks started by torchrun's own machinery (the elastic agent).

Each rank is ``python -m flexzoo train ...`` with torchrun's environment (``RANK``, ``WORLD_SIZE``,
``MASTER_ADDR``...), exactly as ``torchrun --standalone --nproc-per-node N -m flexzoo train ...``
would start it. When a rank fails or dies, the agent stops the others; this module turns its
report into one clear error.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import uuid
from collections.abc import Sequence

from flexzoo.errors import FlexzooError

MONITOR_INTERVAL_S = 0.1
SHUTDOWN_TIMEOUT_S = 10


def inside_torchrun() -> bool:
    """Whether this process is a rank that torchrun (or ``--nproc``) started."""
    return "TORCHELASTIC_RUN_ID" in os.environ or "LOCAL_RANK" in os.environ


def _describe_failure(rank: int, exitcode: int) -> str:
    if exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        return f"rank {rank} was killed by {name}"
    return f"rank {rank} exited with status {exitcode}"


def launch(nproc: int, arguments: Sequence[str]) -> None:
    """Run ``python -m flexzoo <arguments>`` as ``nproc`` local ranks; raise FlexzooError when any fails."""
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    for name in list(logging.root.manager.loggerDict):  # the agent's own chatter; failures are reported below
        if name.startswith("torch.distributed.elastic"):
            logging.getLogger(name).setLevel(logging.CRITICAL)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    config = LaunchConfig(min_nodes=1, max_nodes=1, nproc_per_node=nproc, run_id=str(uuid.uuid4()),
                          rdzv_backend="c10d", rdzv_endpoint="127.0.0.1:0", max_restarts=0,
                          monitor_interval=MONITOR_INTERVAL_S, start_method="spawn",
                          shutdown_timeout=SHUTDOWN_TIMEOUT_S)
    try:
        elastic_launch(config, entrypoint=sys.executable)("-m", "flexzoo", *arguments)
    except SignalException as exc:
        name = signal.Signals(exc.sigval).name
        raise FlexzooError(f"stopped by {name}: the ranks were stopped too; continue with `zoo train --resume`"
                           ) from None
    except ChildFailedError as exc:
        failures = sorted(exc.failures.items())
        # the agent stops the survivors with SIGTERM: the failure that started it all is another one
        first_rank, first = min(failures, key=lambda item: (item[1].exitcode == -signal.SIGTERM, item[1].timestamp))
        others = [rank for rank, _ in failures if rank != first_rank]
        stopped = f"; rank(s) {', '.join(map(str, others))} stopped with it" if others else ""
        raise FlexzooError(f"distributed training failed: {_describe_failure(first_rank, first.exitcode)}"
                           f"{stopped} (a rank's own message, if it wrote one, is above)") from None
