"""``zoo train``: train the model a manifest describes, in this process, as ranks on one or more nodes, or as a
torchrun rank."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from typing import Any

from flexzoo.cli.export import print_exports
from flexzoo.cli.nodes import add_node_options, nodes_from_args
from flexzoo.cli.render import add_quiet_option, emit_json
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
    add_node_options(train, "train", "the model's name")
    add_quiet_option(train, "epoch, export format and download")
    train.add_argument("--no-lock", action="store_true", help="ignore MANIFEST.lock beside the manifest")


def _needs_distributed(manifest_use: str, ranks: int, how: str) -> None:
    if ranks > 1 and manifest_use.partition(":")[2] == DEFAULT_STRATEGY:
        raise FlexzooError(f"{how} starts {ranks} ranks, but the manifest's strategy is `{manifest_use}`; "
                           'add [distributed] with use = "ddp" (or "fsdp") to the manifest')


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
    nodes = nodes_from_args(args, f"flexzoo-{manifest.model.name}")
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
    from flexzoo.reporting.progress import display_of, showing

    with ignoring_lock() if args.no_lock else contextlib.nullcontext(), showing(display_of(json=args.json,
                                                                                           quiet=args.quiet)):
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
