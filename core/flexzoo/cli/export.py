"""``zoo export ARTIFACT --format onnx|torchscript|exported-program``: rebuild an artifact and export it."""

from __future__ import annotations

import argparse
from typing import Any

from flexzoo.cli.render import add_quiet_option, emit_json, table
from flexzoo.manifest.defaults import EXPORT_FORMATS, EXPORT_TOLERANCE


def register(verbs: Any) -> None:
    export = verbs("export", "export an artifact's model to ONNX, TorchScript or a torch.export program",
                   cmd_export)
    export.add_argument("artifact")
    export.add_argument("--format", action="append", choices=EXPORT_FORMATS, dest="formats", metavar="FORMAT",
                        help=f"one of {', '.join(EXPORT_FORMATS)} (repeatable; default: the manifest's [export] "
                             "formats, else onnx)")
    export.add_argument("-o", "--output", default=None, metavar="DIR", help="directory (default: beside the artifact)")
    export.add_argument("--tolerance", type=float, default=EXPORT_TOLERANCE,
                        help=f"largest absolute difference from the model accepted (default: {EXPORT_TOLERANCE:g})")
    add_quiet_option(export, "format")


def export_artifact(artifact: str, formats: list[str] | None, out_dir: str | None, tolerance: float
                    ) -> list[dict[str, Any]]:
    """Load the artifact, then export and check it in each format; validation rules apply as in a build."""
    from flexzoo.pipeline import stages as pipeline

    return pipeline.export(pipeline.load(artifact), artifact, formats, out_dir, tolerance)


def print_exports(exports: list[dict[str, Any]]) -> None:
    for result in exports:
        print(f"wrote {result['path']} ({result['format']}, max abs diff {result['max_abs_diff']:.3g} "
              f"by {result['checked_with']})")


def cmd_export(args: argparse.Namespace) -> int:
    from flexzoo.reporting.progress import display_of, showing

    with showing(display_of(json=args.json, quiet=args.quiet)):
        results = export_artifact(args.artifact, args.formats, args.output, args.tolerance)
    if args.json:
        emit_json(results)
    else:
        print(table(["FORMAT", "OUTPUTS", "MAX ABS DIFF", "CHECKED WITH", "PATH"],
                    [[r["format"], ",".join(r["outputs"]), f"{r['max_abs_diff']:.3g}", r["checked_with"], r["path"]]
                     for r in results]))
    return 0
