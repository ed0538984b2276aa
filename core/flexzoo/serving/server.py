"""The server process: load the artifacts, listen, watch a directory for new versions, drain on SIGTERM.

SIGTERM or SIGINT stops accepting connections, lets the requests in flight finish (their batches run),
then the process exits 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import signal
import socket
import sys
from collections.abc import Generator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import uvicorn

from flexzoo.artifact.format import SUFFIX, read_artifact
from flexzoo.monitoring.monitor import MonitorSettings
from flexzoo.monitoring.scoring import ScoringProcess
from flexzoo.prediction import Predictor
from flexzoo.serving import heap
from flexzoo.serving.app import create_app
from flexzoo.serving.metrics import Metrics
from flexzoo.serving.models import BatchSettings, ModelStore
from flexzoo.serving.security import AdminAccess

__all__ = ["ServeOptions", "serve"]

log = logging.getLogger("flexzoo.serving")


@dataclass(frozen=True)
class ServeOptions:
    host: str = "127.0.0.1"
    port: int = 8000
    runtime: str = "eager"
    max_batch_size: int = 32
    max_wait_ms: float = 5.0
    max_body_bytes: int = 8 << 20
    keep_versions: int = 3
    watch: str | None = None
    watch_interval: float = 1.0
    admin_token: str | None = None
    model_dirs: tuple[str, ...] = ()
    access_log: bool = False
    drain_seconds: float = 30.0
    monitoring: MonitorSettings | None = field(default_factory=MonitorSettings)  # None: no drift monitoring


class _Server(uvicorn.Server):
    """uvicorn's server, whose signals end the process normally (exit 0) once it has drained."""

    draining_app = None

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        def stop(signum: int, frame: object) -> None:
            if self.draining_app is not None:
                self.draining_app.state.draining = True
            self.should_exit = True

        previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def _artifacts_in(directory: Path) -> dict[Path, tuple[int, int]]:
    found = {}
    for path in directory.glob(f"*{SUFFIX}"):
        with contextlib.suppress(OSError):
            stat = path.stat()
            found[path] = (stat.st_mtime_ns, stat.st_size)
    return found


async def _watch(store: ModelStore, directory: Path, interval: float, seen: dict[Path, tuple[int, int]]) -> None:
    """Load each artifact that appears or changes in ``directory`` (once its size and time are steady)."""
    pending: dict[Path, tuple[int, int]] = {}
    while True:
        await asyncio.sleep(interval)
        now = _artifacts_in(directory)
        for path, stamp in sorted(now.items(), key=lambda item: item[1]):
            if seen.get(path) == stamp:
                continue
            if pending.get(path) != stamp:
                pending[path] = stamp  # wait one more look: a copy may still be under way
                continue
            seen[path] = pending.pop(path)
            try:
                name = read_artifact(path, verify_weights=False).manifest["model"]["name"]
                version = await store.load(path, name if name in store.models else None)
                log.warning("watch: %s now serves version %s from %s", name, version.version, path.name)
            except Exception as exc:
                log.warning("watch: %s not loaded: %s", path, exc)


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # asyncio sets TCP_NODELAY only then
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


def _admin_line(access: AdminAccess, host: str) -> str:
    if not access.enabled:
        return (f"admin endpoints off: {host} is not loopback and no --admin-token (or $FLEXZOO_ADMIN_TOKEN) "
                "was given")
    guard = "token required" if access.token else "loopback only, no token"
    where = ", ".join(map(str, access.model_dirs)) or "none (give --model-dir DIR to allow loads)"
    return f"admin endpoints on ({guard}); artifacts loadable from: {where}"


def serve(artifacts: Sequence[str], options: ServeOptions = ServeOptions()) -> int:
    """Serve the artifacts (``NAME=PATH`` serves one under another name) until SIGTERM; returns 0."""
    access = AdminAccess.configure(options.host, options.admin_token,
                                   [*options.model_dirs, *([options.watch] if options.watch else [])])
    executor = ThreadPoolExecutor(1, thread_name_prefix="flexzoo-model")
    summarizing = ThreadPoolExecutor(1, thread_name_prefix="flexzoo-monitor")  # windows, off the model's thread
    scoring = ScoringProcess()  # drift tests, in a child at the lowest priority
    store = ModelStore(executor, Metrics(), runtime=options.runtime, keep_versions=options.keep_versions,
                       loader=functools.partial(Predictor.load, batch_size=options.max_batch_size),
                       batching=BatchSettings(options.max_batch_size, options.max_wait_ms / 1000),
                       monitoring=options.monitoring, monitor_executor=summarizing, monitor_scorer=scoring)
    watched = Path(options.watch) if options.watch else None
    seen = _artifacts_in(watched) if watched else {}
    paths = [(None, a) if "=" not in a else tuple(a.split("=", 1)) for a in artifacts]
    if watched:  # the newest artifact of each name in the directory, unless one was given for that name
        paths += [(None, str(p)) for p, _ in sorted(seen.items(), key=lambda item: item[1])]
    for name, path in paths:
        predictor = store.load_checked(path)
        store.install(predictor, path, name)
        if predictor.runtime_choice:
            print(f"{predictor.name}: {predictor.runtime_choice.summary()}", file=sys.stderr, flush=True)
    if not store.models:
        from flexzoo.errors import FlexzooError

        raise FlexzooError("nothing to serve: give artifact files, or --watch a directory that holds some")
    if options.monitoring is not None:
        scoring.start()  # its start-up now, not during the first window's traffic

    app = create_app(store, max_body_bytes=options.max_body_bytes, access=access,
                     max_batch_size=options.max_batch_size)
    tasks: list[asyncio.Task] = []

    @contextlib.asynccontextmanager
    async def lifespan(app_: object):
        if watched:
            tasks.append(asyncio.create_task(_watch(store, watched, options.watch_interval, seen)))
        yield
        for task in tasks:
            task.cancel()
        await store.close()

    app.router.lifespan_context = lifespan
    sock = _listen(options.host, options.port)
    host, port = sock.getsockname()[:2]
    config = uvicorn.Config(app, log_level="warning", access_log=options.access_log, lifespan="on",
                            timeout_graceful_shutdown=options.drain_seconds)
    server = _Server(config)
    server.draining_app = app
    heap.settle()  # the models are loaded: serving's collections need not walk them (see flexzoo.serving.heap)
    models = ", ".join(f"{n} {m.current}" for n, m in store.models.items())
    print(f"serving {models} ({options.runtime}) on http://{host}:{port}", flush=True)
    print(_admin_line(access, options.host), file=sys.stderr, flush=True)
    asyncio.run(server.serve(sockets=[sock]))
    executor.shutdown(wait=True)
    summarizing.shutdown(wait=True)
    scoring.close()
    print("stopped: in-flight requests answered", file=sys.stderr, flush=True)
    return 0
