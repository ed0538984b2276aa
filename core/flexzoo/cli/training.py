"""``zoo train``: train the model a manifest describes, in this process, as ranks on one or more nodes, or as a
torchrun rank."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from typing import Any

from flexzoo.cli.export import print_exports
from flexzoo.cli.render import emit_json
from flexzoo.errors import FlexzooError
from flexzoo.manifest.defaults import DEFAULT_STRATEGY


def register(verbs: Any) -> None:
    train = verbs("train", "train the model of a manifest with a [train] section into an artifact", cmd_train)
    train.add_argument("manifest")
    train.add_argument("-o", "--output", default="out", metavar="DIR", help="artifact directory (default: out)")
    train.add_argument("--resume", action="store_true",
                       help="continue from the last checkpoint in DIR/<name>.train (same manifest and data)")
    train.add_argument("--nproc", type=int, default=0, metavar="N",
                       help="start N local ranks through torchrun's machinery (needs [distributed] use = ddp/fsdp)")
    nodes = train.add_argument_group("several machines (torch's c10d rendezvous; one `zoo train` per node)")
    nodes.add_argument("--nnodes", metavar="N|MIN:MAX",
                       help="number of nodes; MIN:MAX is elastic: nodes may leave or join, the run resumes")
    nodes.add_argument("--node-rank", type=int, metavar="R", help="this node's rank; node 0 hosts the rendezvous")
    nodes.add_argument("--rdzv-endpoint", metavar="HOST:PORT", help="where the nodes meet (node 0's address)")
    nodes.add_argument("--rdzv-id", metavar="ID", help="the run's id, the same on every node (default: the model's "
                       "name)")
    nodes.add_argument("--rdzv-conf", default="", metavar="K=V,...",
                       help="rendezvous settings, as torchrun's (for example last_call_timeout=10,join_timeout=300)")
    nodes.add_argument("--max-restarts", type=int, metavar="N",
                       help="times the ranks are restarted after a failure (default: 3 when elastic, else 0)")
    train.add_argument("-q", "--quiet", action="store_true", help="no progress bars: one plain line per epoch")
    train.add_argument("--no-lock", action="store_true", help="ignore MANIFEST.lock beside the manifest")


def _needs_distributed(manifest_use: str, ranks: int, how: str) -> None:
    if ranks > 1 and manifest_use.partition(":")[2] == DEFAULT_STRATEGY:
        raise FlexzooError(f"{how} starts {ranks} ranks, but the manifest's strategy is `{manifest_use}`; "
                           'add [distributed] with use = "ddp" (or "fsdp") to the manifest')


def _nodes(args: argparse.Namespace, model_name: str) -> Any:
    """The ``Nodes`` of the several-machine flags, or None when none was given."""
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
                 node_rank=args.node_rank, run_id=args.rdzv_id or f"flexzoo-{model_name}",
                 max_restarts=args.max_restarts, rdzv_conf=parse_rdzv_conf(args.rdzv_conf))


def _resumes(args: argparse.Namespace, manifest: Any) -> bool:
    """``--resume``, or a rank the elastic agent restarted after a failure while a checkpoint exists."""
    from flexzoo.training.launch import restart_count

    if args.resume or not restart_count():
        return args.resume
    from flexzoo.pipeline.run_hooks import run_directory
    from flexzoo.training.checkpoint import checkpoint_state

    state = checkpoint_state(run_directory(args.output, manifest))
    if os.environ.get("RANK", "0") == "0":
        where = (f"resuming after epoch {state['epoch']} (checkpoint of {state.get('world_size')} rank(s))"
                 if state else "no checkpoint yet: starting over")
        print(f"zoo: elastic restart {restart_count()}: the nodes met again as {os.environ.get('WORLD_SIZE')} "
              f"rank(s); {where}", file=sys.stderr, flush=True)
    return state is not None


def cmd_train(args: argparse.Namespace) -> int:
    from flexzoo.manifest.validation import load_manifest

    manifest = load_manifest(args.manifest)
    if manifest.train is None:
        raise FlexzooError(f"{manifest.file}: no [train] section; add one (for example [train] data = \"digits\") "
                           "or use `zoo build` to build without training")
    assert manifest.distributed is not None
    from flexzoo.training.launch import inside_torchrun, launch

    if args.nproc < 0:
        raise FlexzooError(f"--nproc must be positive, got {args.nproc}")
    nodes = _nodes(args, manifest.model.name)
    if (args.nproc or nodes is not None) and not inside_torchrun():
        nproc = args.nproc or 1
        ranks = nproc * (nodes.max_nodes if nodes is not None else 1)
        _needs_distributed(manifest.distributed.use, ranks, f"--nproc {nproc}" + (f" --nnodes {args.nnodes}"
                                                                                  if args.nnodes else ""))
        from flexzoo.pipeline.stages import member_artifacts

        member_artifacts(manifest, args.output)  # once, here: each rank then finds its members built
        forwarded = [*(["--debug"] if args.debug else []), "train", args.manifest, "-o", args.output,
                     *(["--resume"] if args.resume else []), *(["--json"] if args.json else []),
                     *(["--quiet"] if args.quiet else []), *(["--no-lock"] if args.no_lock else [])]
        launch(nproc, forwarded, nodes)
        return 0
    _needs_distributed(manifest.distributed.use, int(os.environ.get("WORLD_SIZE", "1")), "torchrun")
    from flexzoo.hub.scope import ignoring_lock
    from flexzoo.pipeline.stages import train

    with ignoring_lock() if args.no_lock else contextlib.nullcontext():
        result = train(manifest, args.output, resume=_resumes(args, manifest),
                       show_progress=False if args.json else "lines" if args.quiet else True)
    if result.artifact is None:
        return 0  # ranks other than 0 write nothing
    exports = result.exports
    if args.json:
        emit_json({"artifact": str(result.artifact), "exports": exports, "epochs": len(result.history),
                   "stopped_early": result.stopped_early, "validation": result.history[-1]["validation"],
                   "history": result.history})
    else:
        print(result.summary)
        stopped = " (stopped early)" if result.stopped_early else ""
        print(f"wrote {result.artifact} after {len(result.history)} epoch(s){stopped}", file=sys.stdout)
        print_exports(exports)
    return 0
