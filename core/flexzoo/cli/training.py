"""``zoo train``: train the model a manifest describes, in this process, as N local ranks, or as a torchrun rank."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from flexzoo.cli.export import print_exports
from flexzoo.cli.render import emit_json
from flexzoo.errors import FlexzooError
from flexzoo.validation import DEFAULT_STRATEGY, load_manifest


def register(verbs: Any) -> None:
    train = verbs("train", "train the model of a manifest with a [train] section into an artifact", cmd_train)
    train.add_argument("manifest")
    train.add_argument("-o", "--output", default="out", metavar="DIR", help="artifact directory (default: out)")
    train.add_argument("--resume", action="store_true",
                       help="continue from the last checkpoint in DIR/<name>.train (same manifest and data)")
    train.add_argument("--nproc", type=int, default=0, metavar="N",
                       help="start N local ranks through torchrun's machinery (needs [distributed] use = ddp/fsdp)")
    train.add_argument("-q", "--quiet", action="store_true", help="no progress output")


def _needs_distributed(manifest_use: str, ranks: int, how: str) -> None:
    if ranks > 1 and manifest_use.partition(":")[2] == DEFAULT_STRATEGY:
        raise FlexzooError(f"{how} starts {ranks} ranks, but the manifest's strategy is `{manifest_use}`; "
                           'add [distributed] with use = "ddp" (or "fsdp") to the manifest')


def cmd_train(args: argparse.Namespace) -> int:
    manifest = load_manifest(args.manifest)
    if manifest.train is None:
        raise FlexzooError(f"{manifest.file}: no [train] section; add one (for example [train] data = \"digits\") "
                           "or use `zoo build` to build without training")
    assert manifest.distributed is not None
    from flexzoo.training.launch import inside_torchrun, launch

    if args.nproc < 0:
        raise FlexzooError(f"--nproc must be positive, got {args.nproc}")
    if args.nproc and not inside_torchrun():
        _needs_distributed(manifest.distributed.use, args.nproc, f"--nproc {args.nproc}")
        forwarded = [*(["--debug"] if args.debug else []), "train", args.manifest, "-o", args.output,
                     *(["--resume"] if args.resume else []), *(["--json"] if args.json else []),
                     *(["--quiet"] if args.quiet else [])]
        launch(args.nproc, forwarded)
        return 0
    _needs_distributed(manifest.distributed.use, int(os.environ.get("WORLD_SIZE", "1")), "torchrun")
    from flexzoo.pipeline import train

    result = train(manifest, args.output, resume=args.resume, show_progress=not args.quiet and not args.json)
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
