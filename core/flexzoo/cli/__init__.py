"""The ``zoo`` command line: argument parsing, error reporting and exit statuses.

Exit status: 0 success, 1 a problem with the input (message on stderr), 2 a usage error,
3 an internal error, 130 interrupted. ``--debug`` shows tracebacks.
"""

from __future__ import annotations

import os
import sys

from flexzoo._version import __version__

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing
if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Iterator, Sequence

#: Every verb, in the order ``zoo --help`` shows them: the module of flexzoo.cli that adds its parser (through
#: ``register(verb)``) and runs it, and its one-line help. A verb's module is imported only when the verb is
#: used, so ``zoo --help`` imports none of them; tests/test_cli.py checks that each module adds exactly its
#: verbs, with this help.
VERBS: dict[str, tuple[str, str]] = {
    "validate": ("artifacts", "check that `zoo build` will accept a manifest: every key, then a dry run on the meta "
                              "device (allocates nothing); every problem is reported"),
    "build": ("artifacts", "validate a manifest and build it into an artifact"),
    "inspect": ("artifacts", "show an artifact's model card and verify its hashes"),
    "train": ("training", "train the model of a manifest with a [train] section into an artifact"),
    "lock": ("hub", "resolve every outside file of a manifest (pretrained weights, artifacts, ONNX and data files) "
                    "to a commit and sha256, and write MANIFEST.lock beside it"),
    "fetch": ("hub", "download everything a manifest's build needs into the libraries' caches (HF_HOME, "
                     "TORCH_HOME), so that it builds offline (HF_HUB_OFFLINE=1)"),
    "cache": ("hub", "check the weight caches"),
    "tune": ("tune", "search manifest keys with Optuna: each trial trains the manifest; writes the best manifest "
                     "and its artifact"),
    "export": ("export", "export an artifact's model to ONNX, TorchScript or a torch.export program"),
    "report": ("report", "write an artifact's HTML report: model card, training curves, confusion matrix, "
                         "compression charts, export checks (one self-contained file)"),
    "predict": ("predict", "predict with an artifact: top-k labels (classification), boxes (detection) or values "
                           "per head"),
    "explain": ("explain", "explain an artifact's predictions: heat maps (images) or per-step and per-feature "
                           "attributions, with checks"),
    "evaluate": ("evaluate", "measure an artifact's accuracy on clean data, under ImageNet-C corruptions and under "
                             "FGSM/PGD attacks"),
    "serve": ("serve", "serve artifacts over HTTP with dynamic batching, metrics, versions and rollback"),
    "monitor": ("monitor", "report the drift of served samples over time against the artifact's reference profile "
                           "(logs from zoo serve --monitor-log DIR; one self-contained HTML file)"),
    "push": ("publish", "publish an artifact on the Hugging Face Hub with a generated model card (README.md), or "
                        "write that repository folder (--to-dir)"),
    "list": ("catalog", "list installed components"),
    "info": ("catalog", "show a component's parameters, types, constraints, defaults and doc"),
    "plugins": ("catalog", "list discovered plugins and why any failed"),
    "search": ("index", "search the catalogue of known plugins, installed or not, and the models published with "
                        "them"),
    "index": ("index", "regenerate zoo_index.json's first-party entries (in a flexzoo checkout)"),
    "new-plugin": ("scaffold", "create flexzoo-plugin-NAME/: package, example components, tests, README"),
}


class VerbParsers:
    """The verbs' parsers by name, as argparse's sub-parser map: a verb's module adds its parsers on first lookup.

    argparse only asks the map whether a name is in it (``zoo lits``: invalid choice, the names listed) and for
    the parser of the verb given, so ``zoo --help`` builds none and ``zoo list`` only those of its module.
    """

    def __init__(self, prog: str) -> None:
        self._prog = prog
        self._built: dict[str, argparse.ArgumentParser] = {}

    def __getitem__(self, name: str) -> argparse.ArgumentParser:
        if name not in self._built:
            import importlib

            importlib.import_module(f"flexzoo.cli.{VERBS[name][0]}").register(self._verb)
        return self._built[name]

    def __contains__(self, name: object) -> bool:
        return name in VERBS

    def __iter__(self) -> Iterator[str]:
        return iter(VERBS)

    def __len__(self) -> int:
        return len(VERBS)

    def keys(self) -> Iterator[str]:
        return iter(VERBS)

    def _verb(self, name: str, helptext: str, handler: Callable[[argparse.Namespace], int],
              json: bool = True) -> argparse.ArgumentParser:
        import argparse

        from flexzoo.cli.help_format import HelpFormatter

        sub = argparse.ArgumentParser(prog=f"{self._prog} {name}", description=helptext, formatter_class=HelpFormatter)
        sub.set_defaults(handler=handler)
        if json:
            sub.add_argument("--json", action="store_true", help="print JSON for scripts")
        self._built[name] = sub
        return sub


USAGE = "zoo [-h] [--version] [--debug] [-p no:NAME] [--trace-plugins] COMMAND ..."
DESCRIPTION = "flexzoo: build neural-network models from plugin components."
#: The options given before the verb, as ``zoo --help`` lists them (-h's and --version's help are argparse's).
OPTIONS = {
    "-h, --help": "show this help message and exit",
    "--version": "show program's version number and exit",
    "--debug": "show tracebacks",
    "-p no:NAME": "block the plugin NAME (repeatable), as pytest's -p no:NAME",
    "--trace-plugins": "after the command, show discovery time and each plugin's import and registration time",
}


def _parser() -> argparse.ArgumentParser:
    import argparse

    from flexzoo.cli.help_format import HelpFormatter

    # The usage is written out: argparse would compute it with half a dozen patterns compiled at every start.
    # tests/test_cli.py checks that `zoo --help` (help_text.top_help) says what this parser would.
    parser = argparse.ArgumentParser(prog="zoo", usage=USAGE.replace("zoo", "%(prog)s", 1), description=DESCRIPTION,
                                     formatter_class=HelpFormatter)
    parser.add_argument("--version", action="version", version=f"flexzoo {__version__}")
    parser.add_argument("--debug", action="store_true", help=OPTIONS["--debug"])
    parser.add_argument("-p", dest="plugin_options", action="append", default=[], metavar="no:NAME",
                        help=OPTIONS["-p no:NAME"])
    parser.add_argument("--trace-plugins", action="store_true", help=OPTIONS["--trace-plugins"])
    verbs = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    verbs.choices = verbs._name_parser_map = VerbParsers(parser.prog)  # type: ignore[assignment]
    verbs._choices_actions += [verbs._ChoicesPseudoAction(name, (), helptext) for name, (_, helptext) in VERBS.items()]
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
        import threading

        timer = threading.Timer(0.01, os.kill, (os.getpid(), exc.signum))
        timer.daemon = True
        timer.start()

    return unraisable


class sigterm_unwinds:  # lower case: used as `with sigterm_unwinds():`, as the function it was
    """Within the block SIGTERM raises ``SystemExit(128 + 15)`` where the program is, so it unwinds.

    Partial files are removed on the way out; a SIGTERM that lands in a finalizer is delivered again. (A class
    rather than a contextlib generator: ``zoo --help`` need not import contextlib.)
    """

    def __enter__(self) -> None:
        import signal

        self._previous_hook = sys.unraisablehook
        sys.unraisablehook = _redeliver_swallowed_termination(self._previous_hook)
        signal.signal(signal.SIGTERM, _terminate)

    def __exit__(self, *exc_info: object) -> None:
        import signal

        # from here on the interpreter shuts down: a SIGTERM (a launcher stopping its ranks) just ends it,
        # rather than raising inside a finalizer and printing a traceback
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        sys.unraisablehook = self._previous_hook


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``zoo ARGV`` (``sys.argv[1:]`` by default) and return its exit status."""
    words = list(sys.argv[1:] if argv is None else argv)
    if words == ["--version"]:  # as argparse would say it, without argparse
        print(f"flexzoo {__version__}")
        return 0
    if words in (["--help"], ["-h"]):
        from flexzoo.cli.help_text import top_help

        print(top_help(USAGE, DESCRIPTION, {name: helptext for name, (_, helptext) in VERBS.items()}, OPTIONS),
              end="")
        return 0
    parser = _parser()
    args = parser.parse_args(argv)
    blocked = _blocked_plugins(args.plugin_options, parser)
    if blocked:
        os.environ["FLEXZOO_BLOCK_PLUGINS"] = ",".join(
            filter(None, [os.environ.get("FLEXZOO_BLOCK_PLUGINS", ""), *blocked]))
    with sigterm_unwinds():
        return _run(args)


def run() -> int:
    """The ``zoo`` process (its console script and ``python -m flexzoo``): :func:`main`, then a quick exit that no
    thread left behind can abort (:mod:`flexzoo.cli.ending`)."""
    status = main()
    from flexzoo.cli.ending import end

    return end(status)


def _run(args: argparse.Namespace) -> int:
    try:
        return args.handler(args)
    except KeyboardInterrupt:
        print("zoo: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:
        # a FlexzooError can only come from a process that imported flexzoo.errors (`zoo list` from its kept
        # listing does not: it would cost dataclasses and inspect)
        errors = sys.modules.get("flexzoo.errors")
        if errors is not None and isinstance(exc, errors.FlexzooError):
            if args.debug:
                raise
            print(f"zoo: error: {exc}", file=sys.stderr)
            return 1
        if args.debug:
            raise
        print(f"zoo: internal error: {type(exc).__name__}: {exc}\n"
              "run again with --debug for the traceback, and report it", file=sys.stderr)
        return 3
    finally:
        if args.trace_plugins:
            from flexzoo.cli.trace import report_plugin_trace

            report_plugin_trace()
