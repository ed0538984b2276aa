"""``zoo train --nproc N [--nnodes ...]``: ranks started by torchrun's own machinery (the elastic agent).

Each rank is ``python -m flexzoo train ...`` with torchrun's environment (``RANK``, ``WORLD_SIZE``,
``MASTER_ADDR``...), exactly as ``torchrun --nproc-per-node N -m flexzoo train ...`` would start it.
Several nodes (one ``zoo train`` per machine) meet through torch's c10d rendezvous at
``--rdzv-endpoint``; the node with ``--node-rank 0`` hosts its store. With ``--nnodes MIN:MAX`` the
run is elastic: when a node dies (or joins) the agents stop their ranks, meet again with the nodes
that are left, and start the ranks once more, which resume from the last checkpoint.
When a rank fails and no restart is left, the agent stops the others; this module turns its
report into one clear error.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from flexzoo.errors import FlexzooError

MONITOR_INTERVAL_S = 0.1
SHUTDOWN_TIMEOUT_S = 10
ELASTIC_MAX_RESTARTS = 3  # restarts an elastic run allows unless --max-restarts says otherwise


def inside_torchrun() -> bool:
    """Whether this process is a rank that torchrun (or ``--nproc``) started."""
    return "TORCHELASTIC_RUN_ID" in os.environ or "LOCAL_RANK" in os.environ


def restart_count() -> int:
    """How many times the elastic agent has restarted this rank's group (0 on the first start)."""
    return int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0") or 0)


@dataclass(frozen=True)
class Nodes:
    """Where this node's ranks meet the other nodes' (``--nnodes``, ``--node-rank``, ``--rdzv-*``)."""

    min_nodes: int = 1
    max_nodes: int = 1
    endpoint: str = "127.0.0.1:0"  # one node: a store of its own on a free port
    node_rank: int | None = None
    run_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    max_restarts: int | None = None
    rdzv_conf: dict[str, str] = field(default_factory=dict)

    @property
    def elastic(self) -> bool:
        return self.min_nodes < self.max_nodes

    def rendezvous_configs(self) -> dict[str, str | bool]:
        configs: dict[str, str | bool] = dict(self.rdzv_conf)
        if self.node_rank is not None:  # node 0 hosts the store; the others connect to it
            configs.setdefault("is_host", self.node_rank == 0)
        return configs

    def restarts(self) -> int:
        if self.max_restarts is not None:
            return self.max_restarts
        return ELASTIC_MAX_RESTARTS if self.elastic else 0


def parse_nnodes(text: str) -> tuple[int, int]:
    """``"2"`` → (2, 2); ``"1:2"`` → (1, 2) (an elastic run); anything else is a FlexzooError."""
    low, _, high = text.partition(":")
    try:
        nodes = (int(low), int(high or low))
    except ValueError:
        raise FlexzooError(f"--nnodes must be N or MIN:MAX (for example 2 or 1:2), got {text!r}") from None
    if not 1 <= nodes[0] <= nodes[1]:
        raise FlexzooError(f"--nnodes needs 1 <= MIN <= MAX, got {text!r}")
    return nodes


def parse_rdzv_conf(text: str) -> dict[str, str]:
    """``"last_call_timeout=5,join_timeout=60"`` → a dict (torchrun's ``--rdzv-conf``)."""
    pairs = [item.partition("=") for item in text.split(",") if item.strip()]
    if any(not key.strip() or not sep for key, sep, _ in pairs):
        raise FlexzooError(f"--rdzv-conf must be KEY=VALUE[,KEY=VALUE...], got {text!r}")
    return {key.strip(): value.strip() for key, _, value in pairs}


def _describe_failure(rank: int, exitcode: int) -> str:
    if exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        return f"rank {rank} was killed by {name}"
    return f"rank {rank} exited with status {exitcode}"


def first_failure(failures: Sequence[tuple[int, Any]]) -> tuple[int, Any]:
    """The (rank, failure) that started a failed run, of the agent's ``(rank, ProcessFailure)`` pairs.

    The agent stops the survivors with SIGTERM: the failure that started it all is another one. Timestamps are
    whole seconds, so failures seen in one poll tie; among those, a rank that aborted (SIGABRT: what a collective
    does when its peer is gone) or that exited with an error status (flexzoo's message that a collective failed;
    a rank leaves at once, see flexzoo.cli.ending) is a consequence of one killed by another signal.
    """
    return min(failures, key=lambda item: (item[1].exitcode == -signal.SIGTERM, item[1].timestamp,
                                           item[1].exitcode == -signal.SIGABRT, item[1].exitcode > 0))


def _quiet_agent() -> None:
    """Silence the agent's own chatter; failures are reported by :func:`launch`, restarts by the ranks."""
    for name in list(logging.root.manager.loggerDict):
        if name.startswith("torch.distributed.elastic"):
            logging.getLogger(name).setLevel(logging.CRITICAL)


def launch(nproc: int, arguments: Sequence[str], nodes: Nodes | None = None, *, job: str = "training",
           resume: str = "`zoo train --resume`") -> None:
    """Run ``python -m flexzoo <arguments>`` as ``nproc`` ranks on this node; raise FlexzooError when it fails.

    :param job: what the ranks do, as the failure message says it; ``resume``: how to continue after a stop.
    """
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.elastic.rendezvous.api import RendezvousError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    nodes = nodes or Nodes()
    _quiet_agent()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    config = LaunchConfig(min_nodes=nodes.min_nodes, max_nodes=nodes.max_nodes, nproc_per_node=nproc,
                          run_id=nodes.run_id, rdzv_backend="c10d", rdzv_endpoint=nodes.endpoint,
                          rdzv_configs=nodes.rendezvous_configs(), max_restarts=nodes.restarts(),
                          monitor_interval=MONITOR_INTERVAL_S, start_method="spawn",
                          shutdown_timeout=SHUTDOWN_TIMEOUT_S)
    try:
        elastic_launch(config, entrypoint=sys.executable)("-m", "flexzoo", *arguments)
    except SignalException as exc:
        name = signal.Signals(exc.sigval).name
        raise FlexzooError(f"stopped by {name}: the ranks were stopped too; continue with {resume}") from None
    except RendezvousError as exc:
        raise FlexzooError(f"the nodes did not meet at {nodes.endpoint} (run id {nodes.run_id}): "
                           f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}; start every node with "
                           "the same --rdzv-endpoint, --rdzv-id and --nnodes, node 0 first") from None
    except ChildFailedError as exc:
        failures = sorted(exc.failures.items())
        first_rank, first = first_failure(failures)
        others = [rank for rank, _ in failures if rank != first_rank]
        stopped = f"; rank(s) {', '.join(map(str, others))} stopped with it" if others else ""
        restarts = f" after {nodes.restarts()} restart(s)" if nodes.restarts() else ""
        raise FlexzooError(f"distributed {job} failed{restarts}: {_describe_failure(first_rank, first.exitcode)}"
                           f"{stopped} (a rank's own message, if it wrote one, is above)") from None
