"""The ``zoo`` command line: argument parsing, error reporting and exit statuses.

Exit status: 0 success, 1 a problem with the input (message on stderr), 2 a usage error,
3 an internal error, 130 interrupted. ``--debug`` shows tracebacks.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence

from flexzoo._version import __version__
from flexzoo.cli import (
    artifacts,
    catalog,
    evaluate,
    explain,
    export,
    hub,
    index,
    monitor,
    predict,
    publish,
    report,
    scaffold,
    serve,
    training,
    tune,
)
from flexzoo.errors import FlexzooError

#: Each module adds its verbs through ``register(verb)``, in the order ``zoo --help`` shows them.
VERB_MODULES = (artifacts, training, hub, tune, export, report, predict, explain, evaluate, serve, monitor, publish,
                catalog, index, scaffold)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="zoo", description="flexzoo: build neural-network models from plugin components.")
    parser.add_argument("--version", action="version", version=f"flexzoo {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    parser.add_argument("-p", dest="plugin_options", action="append", default=[], metavar="no:NAME",
                        help="block the plugin NAME (repeatable), as pytest's -p no:NAME")
    parser.add_argument("--trace-plugins", action="store_true",
                        help="after the command, show discovery time and each plugin's import and registration time")
    verbs = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def verb(name: str, helptext: str, handler: Callable[[argparse.Namespace], int],
             json: bool = True) -> argparse.ArgumentParser:
        sub = verbs.add_parser(name, help=helptext, description=helptext)
        sub.set_defaults(handler=handler)
        if json:
            sub.add_argument("--json", action="store_true", help="print JSON for scripts")
        return sub

    for module in VERB_MODULES:
        module.register(verb)
    return parser


def _blocked_plugins(options: Sequence[str], parser: argparse.ArgumentParser) -> list[str]:
    blocked = []
    for option in options:
        if not option.startswith("no:") or len(option) == 3:
            parser.error(f"-p takes no:NAME to block a plugin, got {option!r}")
        blocked.append(option[3:])
    return blocked


class _Terminated(SystemExit):
    """SIGTERM, raised where the program is so that it unwinds and partial files are removed."""

    def __init__(self, signum: int) -> None:
        super().__init__(128 + signum)
        self.signum = signum


def _terminate(signum: int, frame: object) -> None:
    raise _Terminated(signum)


def _redeliver_swallowed_termination(hook: Callable[..., object]) -> Callable[..., object]:
    """An unraisable-exception hook that sends SIGTERM again when a finalizer swallowed it.

    A signal that arrives while a ``__del__`` or a weakref callback runs raises there, where Python can
    only print the exception and go on: the process would keep running, with a traceback on stderr.
    The hook prints nothing for it and delivers the signal again a moment later, when ordinary code
    (which unwinds) is running; other unraisable exceptions go to the previous hook.
    """

    def unraisable(info: object) -> None:
        exc = getattr(info, "exc_value", None)
        if not isinstance(exc, _Terminated):
            hook(info)
            return
        timer = threading.Timer(0.01, os.kill, (os.getpid(), exc.signum))
        timer.daemon = True
        timer.start()

    return unraisable


@contextlib.contextmanager
def sigterm_unwinds() -> Iterator[None]:
    """Within the block SIGTERM raises ``SystemExit(128 + 15)`` where the program is, so it unwinds.

    Partial files are removed on the way out; a SIGTERM that lands in a finalizer is delivered again.
    """
    previous_hook = sys.unraisablehook
    sys.unraisablehook = _redeliver_swallowed_termination(previous_hook)
    signal.signal(signal.SIGTERM, _terminate)
    try:
        yield
    finally:
        # from here on the interpreter shuts down: a SIGTERM (a launcher stopping its ranks) just ends it,
        # rather than raising inside a finalizer and printing a traceback
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        sys.unraisablehook = previous_hook


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    blocked = _blocked_plugins(args.plugin_options, parser)
    if blocked:
        os.environ["FLEXZOO_BLOCK_PLUGINS"] = ",".join(
            filter(None, [os.environ.get("FLEXZOO_BLOCK_PLUGINS", ""), *blocked]))
    with sigterm_unwinds():
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    try:
        return args.handler(args)
    except FlexzooError as exc:
        if args.debug:
            raise
        print(f"zoo: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("zoo: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:
        if args.debug:
            raise
        print(f"zoo: internal error: {type(exc).__name__}: {exc}\n"
              "run again with --debug for the traceback, and report it", file=sys.stderr)
        return 3
    finally:
        if args.trace_plugins:
            from flexzoo.cli.trace import report_plugin_trace

            report_plugin_trace()
