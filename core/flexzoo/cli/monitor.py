"""``zoo monitor ARTIFACT LOGS``: an HTML report of the drift of logged served samples over time."""

from __future__ import annotations

import argparse
from typing import Any

from flexzoo.cli.render import emit_json
from flexzoo.errors import FlexzooError


def register(verbs: Any) -> None:
    monitor = verbs("monitor", "report the drift of served samples over time against the artifact's reference profile "
                    "(logs from zoo serve --monitor-log DIR; one self-contained HTML file)", cmd_monitor)
    monitor.add_argument("artifact")
    monitor.add_argument("logs", help="a folder of monitoring logs (*.jsonl), or one log file")
    monitor.add_argument("-o", "--output", metavar="FILE", default="drift.html",
                         help="where to write the report (default: drift.html)")
    monitor.add_argument("--window", type=int, default=200, metavar="N", help="samples per window (default: 200)")
    monitor.add_argument("--alpha", type=float, default=0.01, metavar="A",
                         help="false-alarm level of each window (default: 0.01)")
    monitor.add_argument("--model", metavar="NAME", help="only the samples the server logged for this model name")


def cmd_monitor(args: argparse.Namespace) -> int:
    if args.window < 10 or not 0 < args.alpha < 1:
        raise FlexzooError("--window must be at least 10 and --alpha between 0 and 1 (exclusive)")
    from flexzoo.monitoring.report import write_drift_report

    target, windows = write_drift_report(args.artifact, args.logs, args.output, window=args.window, alpha=args.alpha,
                                         model=args.model)
    drifted = [number for number, window in enumerate(windows, 1) if window.scores.drift]
    if args.json:
        emit_json({"report": str(target), "windows": len(windows), "drifted": drifted})
    else:
        print(f"wrote {target}: {len(windows)} windows, {len(drifted)} drifted"
              + (f" (first: window {drifted[0]})" if drifted else ""))
    return 0
