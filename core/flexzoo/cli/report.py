"""``zoo report``: an artifact as one self-contained HTML page."""

from __future__ import annotations

import argparse
from typing import Any

from flexzoo.cli.render import emit_json


def register(verbs: Any) -> None:
    report = verbs("report", "write an artifact's HTML report: model card, training curves, confusion matrix, "
                   "compression charts, export checks (one self-contained file)", cmd_report)
    report.add_argument("artifact")
    report.add_argument("-o", "--output", metavar="FILE", help="where to write it (default: beside the artifact, "
                        "<name>.report.html)")


def cmd_report(args: argparse.Namespace) -> int:
    from flexzoo.cli.report_page import write_report

    target = write_report(args.artifact, args.output)
    if args.json:
        emit_json({"report": str(target)})
    else:
        print(f"wrote {target}")
    return 0
