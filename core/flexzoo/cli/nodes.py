"""The several-machine options of the verbs that start ranks (``zoo train``, ``zoo predict -o``).

One launcher per node; the nodes meet through torch's c10d rendezvous (:mod:`flexzoo.training.launch`).
"""

from __future__ import annotations

import argparse
from typing import Any

from flexzoo.errors import FlexzooError

__all__ = ["add_node_options", "nodes_from_args"]


def add_node_options(parser: argparse.ArgumentParser, verb: str, run_id: str) -> None:
    """Add ``--nnodes``, ``--node-rank``, ``--rdzv-*`` and ``--max-restarts`` to ``verb``'s ``parser``.

    :param run_id: what ``--rdzv-id`` defaults to, as the help says it.
    """
    nodes = parser.add_argument_group(f"several machines (torch's c10d rendezvous; one `zoo {verb}` per node)")
    nodes.add_argument("--nnodes", metavar="N|MIN:MAX",
                       help="number of nodes; MIN:MAX is elastic: nodes may leave or join, the run resumes")
    nodes.add_argument("--node-rank", type=int, metavar="R", help="this node's rank; node 0 hosts the rendezvous")
    nodes.add_argument("--rdzv-endpoint", metavar="HOST:PORT", help="where the nodes meet (node 0's address)")
    nodes.add_argument("--rdzv-id", metavar="ID", help=f"the run's id, the same on every node (default: {run_id})")
    nodes.add_argument("--rdzv-conf", default="", metavar="K=V,...",
                       help="rendezvous settings, as torchrun's (for example last_call_timeout=10,join_timeout=300)")
    nodes.add_argument("--max-restarts", type=int, metavar="N",
                       help="times the ranks are restarted after a failure (default: 3 when elastic, else 0)")


def nodes_from_args(args: argparse.Namespace, run_id: str) -> Any:
    """The :class:`~flexzoo.training.launch.Nodes` of the several-machine options, or None when none was given.

    :param run_id: the rendezvous id when ``--rdzv-id`` is not given.
    """
    from flexzoo.training.launch import Nodes, parse_nnodes, parse_rdzv_conf

    given = [args.nnodes, args.node_rank, args.rdzv_endpoint, args.rdzv_id, args.max_restarts]
    if all(value is None for value in given) and not args.rdzv_conf:
        return None
    min_nodes, max_nodes = parse_nnodes(args.nnodes or "1")
    if max_nodes > 1 and not args.rdzv_endpoint:
        raise FlexzooError(f"--nnodes {args.nnodes} needs --rdzv-endpoint HOST:PORT, the address where the nodes "
                           "meet (the same on every node; node 0 listens there)")
    if args.node_rank is not None and not 0 <= args.node_rank < max_nodes:
        raise FlexzooError(f"--node-rank must be in 0..{max_nodes - 1}, got {args.node_rank}")
    if args.max_restarts is not None and args.max_restarts < 0:
        raise FlexzooError(f"--max-restarts must be 0 or more, got {args.max_restarts}")
    return Nodes(min_nodes=min_nodes, max_nodes=max_nodes, endpoint=args.rdzv_endpoint or "127.0.0.1:0",
                 node_rank=args.node_rank, run_id=args.rdzv_id or run_id,
                 max_restarts=args.max_restarts, rdzv_conf=parse_rdzv_conf(args.rdzv_conf))
