"""``zoo serve ARTIFACT...``: serve artifacts over HTTP (needs ``pip install 'flexzoo[serve]'``)."""

from __future__ import annotations

import argparse
import os
from typing import Any

from flexzoo.cli.predict import RUNTIME_CHOICES
from flexzoo.errors import FlexzooError


def register(verbs: Any) -> None:
    serve = verbs("serve", "serve artifacts over HTTP with dynamic batching, metrics, versions and rollback",
                  cmd_serve, json=False)
    serve.add_argument("artifacts", nargs="*", metavar="ARTIFACT",
                       help="artifact files; NAME=PATH serves one under another name")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port (default: 8000; 0 picks a free one)")
    serve.add_argument("--runtime", choices=RUNTIME_CHOICES, default="eager",
                       help="eager (default), compile (torch.compile), onnx (onnxruntime), exported-program, or "
                       "auto: each model gets the fastest of them here at --max-batch-size whose outputs match "
                       "eager (the timings are logged and shown by GET /v1/models/NAME)")
    serve.add_argument("--max-batch-size", type=int, default=32, metavar="N",
                       help="most samples merged into one model call (default: 32)")
    serve.add_argument("--max-wait-ms", type=float, default=5.0, metavar="MS",
                       help="longest a batch waits for more requests while others are in flight (default: 5)")
    serve.add_argument("--max-body-bytes", type=int, default=8 << 20, metavar="BYTES",
                       help="largest request body accepted (default: 8 MiB)")
    serve.add_argument("--keep-versions", type=int, default=3, metavar="N",
                       help="versions kept loaded per model, for rollback (default: 3)")
    serve.add_argument("--watch", metavar="DIR", help="serve the artifacts in DIR and load new ones as they appear "
                       "(DIR is also a --model-dir)")
    serve.add_argument("--model-dir", action="append", default=[], metavar="DIR", dest="model_dirs",
                       help="a directory /admin may load artifacts from (repeatable); any other path is refused")
    serve.add_argument("--watch-interval", type=float, default=1.0, metavar="S", help="seconds between looks")
    serve.add_argument("--admin-token", default=os.environ.get("FLEXZOO_ADMIN_TOKEN"),
                       help="require `Authorization: Bearer TOKEN` on /admin (default: $FLEXZOO_ADMIN_TOKEN); "
                       "without one, /admin exists only when --host is loopback")
    serve.add_argument("--access-log", action="store_true", help="log every request")
    serve.add_argument("--no-monitor", action="store_true",
                       help="no drift monitoring (by default each version whose artifact records a reference profile "
                       "is monitored: GET /v1/models/NAME/monitor, flexzoo_drift* metrics)")
    serve.add_argument("--monitor-window", type=int, default=200, metavar="N",
                       help="samples per drift window (default: 200)")
    serve.add_argument("--monitor-alpha", type=float, default=0.01, metavar="A",
                       help="false-alarm level of a window drawn from the reference distribution (default: 0.01)")
    serve.add_argument("--monitor-interval", type=float, default=5.0, metavar="S",
                       help="seconds at least between two windows scored; windows completed meanwhile are logged, "
                       "not scored (default: 5)")
    serve.add_argument("--monitor-log", metavar="DIR",
                       help="log every served input and prediction to rotating JSON-lines files in DIR "
                       "(for zoo monitor ARTIFACT DIR)")
    serve.add_argument("--print-dockerfile", action="store_true",
                       help="print a Dockerfile serving the artifact with the plugin versions it records, and exit")


def cmd_serve(args: argparse.Namespace) -> int:
    if args.print_dockerfile:
        from flexzoo.serving.dockerfile import dockerfile

        if len(args.artifacts) != 1:
            raise FlexzooError("--print-dockerfile takes exactly one artifact")
        print(dockerfile(args.artifacts[0], args.port or 8000), end="")
        return 0
    if args.max_batch_size < 1 or args.max_wait_ms < 0:
        raise FlexzooError("--max-batch-size must be at least 1 and --max-wait-ms at least 0")
    if args.monitor_window < 10 or not 0 < args.monitor_alpha < 1 or args.monitor_interval < 0:
        raise FlexzooError("--monitor-window must be at least 10, --monitor-alpha between 0 and 1 (exclusive) and "
                           "--monitor-interval at least 0")
    try:
        from flexzoo.monitoring.monitor import MonitorSettings
        from flexzoo.serving.server import ServeOptions, serve
    except ImportError as exc:
        raise FlexzooError(f"zoo serve needs the serving libraries ({exc.name} is missing): "
                           "pip install 'flexzoo[serve]'") from None
    options = ServeOptions(host=args.host, port=args.port, runtime=args.runtime, max_batch_size=args.max_batch_size,
                           max_wait_ms=args.max_wait_ms, max_body_bytes=args.max_body_bytes,
                           keep_versions=args.keep_versions, watch=args.watch, watch_interval=args.watch_interval,
                           admin_token=args.admin_token, model_dirs=tuple(args.model_dirs),
                           access_log=args.access_log, monitoring=None if args.no_monitor else MonitorSettings(
                               args.monitor_window, args.monitor_alpha, args.monitor_interval, args.monitor_log))
    return serve(args.artifacts, options)
