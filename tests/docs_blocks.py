"""The docs' own block runner: every fenced code block of a page under docs/ runs, in order, in one directory.

- ``toml``: validated as a manifest (``flexzoo.manifest.validation.load_manifest``). A block without
  ``[model]`` is a fragment, validated merged onto :data:`BASE`.
- ``python``: executed; the blocks of a page share one namespace.
- ``console``: each ``$ command`` runs (``\\`` continues a line); the lines after it, up to the next
  command, are its expected output: each must appear, in order, in what it printed (stdout and stderr),
  where ``...`` stands for anything (a whole line of it, for any lines). ``zoo ...`` runs in this process
  (``flexzoo.cli.main``), ``python ...`` in a subprocess, and a command ending in `` &`` in the background
  until the page is done. Output that shows ``zoo: error`` expects exit status 1, anything else 0.
  ``cd DIR`` moves the page's later commands into DIR; ``pip install [-e] PATH[extras]`` installs the
  package at PATH (no dependencies, no index, nothing downloaded) into the page's own site directory, and
  from then on ``zoo``, ``python`` and ``pytest`` run in subprocesses that see it (Python blocks too).
- ``text`` blocks are shown output, not code, and are not run.

An HTML comment on the line before a block changes how it runs: ``<!-- docs-test: file NAME -->``
writes the block to NAME first (``file NAME invalid``: a manifest validation must refuse; a Python
block is written, not executed: a later command runs it), ``<!-- docs-test: in FILE -->`` checks that
a TOML block's every key and value are in FILE (what a page says a generated file holds), and
``<!-- docs-test: skip REASON -->`` leaves it out, counted with its reason.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
RUN_LANGUAGES = ("toml", "python", "console")
SHOWN_LANGUAGES = ("text",)
FENCE = re.compile(r"^(?P<marker>(?:<!-- docs-test: (?P<directive>[^>]*?) -->\n)?)```(?P<lang>[\w-]*)\n"
                   r"(?P<body>.*?)^```$", re.MULTILINE | re.DOTALL)
#: What a TOML fragment is merged onto to make a whole manifest: examples/digits.toml's model, untrained.
BASE = {"model": {"name": "fragment", "input_shape": [1, 8, 8]}, "backbone": {"use": "cnn", "channels": [8, 16]},
        "heads": {"digit": {"use": "linear", "num_classes": 10}, "parity": {"use": "mlp", "num_classes": 2}}}


class BlockFailed(AssertionError):
    """A block did not do what the page says, with the page, line and what happened."""


@dataclass
class Block:
    page: Path
    line: int
    language: str
    body: str
    directive: str = ""

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT) if self.page.is_relative_to(ROOT) else self.page}:{self.line}"

    @property
    def skip_reason(self) -> str:
        return self.directive.removeprefix("skip").strip() if self.directive.startswith("skip") else ""


@dataclass
class Outcome:
    ran: int = 0
    skipped: list[str] = field(default_factory=list)


def blocks(page: Path) -> list[Block]:
    text = page.read_text(encoding="utf-8")
    found = []
    for match in FENCE.finditer(text):
        line = text.count("\n", 0, match.start("lang")) + 1
        found.append(Block(page, line, match.group("lang"), match.group("body"), match.group("directive") or ""))
    return found


def _merge(base: dict, fragment: dict) -> dict:
    merged = dict(base)
    for key, value in fragment.items():
        merged[key] = _merge(merged[key], value) if isinstance(value, dict) and isinstance(merged.get(key), dict) \
            else value
    return merged


def _toml_text(data: dict, prefix: str = "") -> str:
    """A TOML document of ``data`` (enough for manifests: tables, arrays of tables, plain values)."""
    import json

    plain = [(k, v) for k, v in data.items() if not isinstance(v, dict)
             and not (isinstance(v, list) and v and all(isinstance(i, dict) for i in v))]
    lines = [f"[{prefix}]"] if prefix and plain else []
    lines += [f"{json.dumps(k)} = {json.dumps(v)}" for k, v in plain]
    for key, value in data.items():
        name = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict):
            lines.append(_toml_text(value, name))
        elif isinstance(value, list) and value and all(isinstance(i, dict) for i in value):
            for item in value:
                lines.append(f"[[{name}]]")
                lines.append(_toml_text(item, "").strip())
    return "\n".join(lines) + "\n"


def _contains(whole: object, part: object) -> bool:
    if isinstance(part, dict):
        return isinstance(whole, dict) and all(k in whole and _contains(whole[k], v) for k, v in part.items())
    if isinstance(part, list) and isinstance(whole, list):
        return all(item in whole for item in part)
    return whole == part


def _run_toml(block: Block, page: PageRun) -> None:
    import tomllib

    from flexzoo.errors import ManifestError
    from flexzoo.manifest.validation import load_manifest

    directory = page.cwd
    parts = block.directive.split()
    if parts[:1] == ["in"]:
        target = directory / parts[1]
        if not target.is_file():
            raise BlockFailed(f"{block.where}: the page shows part of {parts[1]}, and there is no such file")
        if not _contains(tomllib.loads(target.read_text(encoding="utf-8")), tomllib.loads(block.body)):
            raise BlockFailed(f"{block.where}: {parts[1]} does not hold what the block shows:\n"
                              f"{target.read_text(encoding='utf-8')}")
        return
    if parts[:1] == ["file"]:
        path = directory / parts[1]
        path.write_text(block.body, encoding="utf-8")
        invalid = "invalid" in parts[2:]
    else:
        data = tomllib.loads(block.body)
        path = directory / "_block.toml"
        path.write_text(block.body if "model" in data else _toml_text(_merge(BASE, data)), encoding="utf-8")
        invalid = False
    if page.site is not None:  # the page installed a plugin: validate where it is seen
        done = page.subprocess([sys.executable, "-m", "flexzoo", "validate", "--static", str(path)])
        if done.returncode != (1 if invalid else 0):
            raise BlockFailed(f"{block.where}: `zoo validate --static` exited {done.returncode}:\n"
                              f"{done.stdout}{done.stderr}")
        return
    try:
        load_manifest(path)
    except ManifestError as exc:
        if not invalid:
            raise BlockFailed(f"{block.where}: the manifest does not validate:\n{exc}") from None
        return
    if invalid:
        raise BlockFailed(f"{block.where}: the page says this manifest is refused, and it validates")


def _run_python(block: Block, page: PageRun) -> None:
    parts = block.directive.split()
    if parts[:1] == ["file"]:
        target = page.cwd / parts[1]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(block.body, encoding="utf-8")
        return
    namespace = page.namespace
    code = compile(block.body, f"{block.where}", "exec")
    try:
        exec(code, namespace)
    except Exception as exc:
        raise BlockFailed(f"{block.where}: the Python block raised {type(exc).__name__}: {exc}") from exc


def _commands(body: str) -> list[tuple[str, list[str]]]:
    """(command, expected output lines) of a console block."""
    found: list[tuple[str, list[str]]] = []
    lines = body.splitlines()
    index = 0
    while index < len(lines):
        line = lines[index]
        if line.startswith("$ "):
            command = line[2:]
            while command.rstrip().endswith("\\") and index + 1 < len(lines):
                index += 1
                command = command.rstrip()[:-1] + " " + lines[index].strip()
            found.append((command, []))
        elif found:
            found[-1][1].append(line)
        index += 1
    return found


def _without_comment(command: str) -> str:
    lexer = shlex.shlex(command, posix=True, punctuation_chars=False)
    lexer.whitespace_split = True
    lexer.commenters = "#"
    return " ".join(shlex.quote(word) if word != "&" else word for word in lexer)


def _line_matches(pattern: str, line: str) -> bool:
    regex = ".*".join(re.escape(part) for part in pattern.rstrip().split("..."))
    return re.fullmatch(regex, line.rstrip()) is not None


def check_output(expected: list[str], printed: str) -> str:
    """'' when every expected line appears in order in ``printed`` (``...`` alone: any lines), else why not."""
    wanted = [line for line in expected if line.strip() and line.strip() != "..."]
    lines = printed.splitlines()
    position = 0
    for pattern in wanted:
        while position < len(lines) and not _line_matches(pattern, lines[position]):
            position += 1
        if position == len(lines):
            return f"expected a line like {pattern!r} (in order), in:\n{printed}"
        position += 1
    return ""


def _run_zoo(argv: list[str]) -> tuple[int, str]:
    from flexzoo.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        try:
            status = main(argv)
        except SystemExit as exc:
            status = exc.code if isinstance(exc.code, int) else 1
    return status, out.getvalue()


def _pip_install(block: Block, page: PageRun, words: list[str]) -> tuple[int, str]:
    """``pip install [-e] PATH[extras]``: into the page's site directory, offline and without dependencies."""
    targets = [word for word in words[2:] if not word.startswith("-")]
    if len(targets) != 1 or not (page.cwd / targets[0].split("[")[0]).exists():
        raise BlockFailed(f"{block.where}: the runner installs one local package (`pip install [-e] PATH`), "
                          f"not {' '.join(words[2:])}")
    page.site = page.site or page.root / "site"
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                           "--no-index", "--upgrade", "--target", str(page.site),
                           str(page.cwd / targets[0].split("[")[0])],
                          cwd=page.cwd, capture_output=True, text=True, timeout=300)
    return done.returncode, done.stdout + done.stderr


def _run_console(block: Block, page: PageRun) -> None:
    for command, expected in _commands(block.body):
        words = shlex.split(_without_comment(command))
        if words and words[-1] == "&":
            words = words[:-1]
            program = ["zoo", *words[1:]] if words[0] == "zoo" else words
            executable = [sys.executable, "-m", "flexzoo", *program[1:]] if program[0] == "zoo" else program
            page.background.append(subprocess.Popen(executable, cwd=page.cwd, stdout=subprocess.DEVNULL,
                                                    stderr=subprocess.DEVNULL, env=page.env))
            continue
        if words[0] == "cd":
            page.cwd = (page.cwd / words[1]).resolve()
            os.chdir(page.cwd)
            continue
        if words[:2] == ["pip", "install"]:
            status, printed = _pip_install(block, page, words)
        elif words[0] == "zoo" and page.site is None:
            status, printed = _run_zoo(words[1:])
        elif words[0] in ("zoo", "python", "pytest"):
            head = {"zoo": ["-m", "flexzoo"], "python": [], "pytest": ["-m", "pytest", "-p", "no:cacheprovider"]}
            done = page.subprocess([sys.executable, *head[words[0]], *words[1:]], timeout=600)
            status, printed = done.returncode, done.stdout + done.stderr
        else:
            raise BlockFailed(f"{block.where}: the runner does not run `{words[0]}`; mark the block "
                              "<!-- docs-test: skip REASON --> if it cannot run in a test")
        wants_error = any("zoo: error" in line for line in expected)
        if status != (1 if wants_error else 0):
            raise BlockFailed(f"{block.where}: `{command}` exited {status}:\n{printed}")
        problem = check_output(expected, printed)
        if problem:
            raise BlockFailed(f"{block.where}: `{command}` printed something else: {problem}")


@dataclass
class PageRun:
    """What the blocks of one page share: the working directory, Python namespace, site and background."""

    root: Path
    cwd: Path
    namespace: dict = field(default_factory=lambda: {"__name__": "__docs__"})
    site: Path | None = None
    background: list[subprocess.Popen] = field(default_factory=list)

    @property
    def env(self) -> dict[str, str]:
        path = os.pathsep.join(filter(None, [str(self.site) if self.site else "", os.environ.get("PYTHONPATH")]))
        return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": path,
                "FLEXZOO_CACHE_DIR": str(self.root / ".flexzoo-cache")}

    def subprocess(self, command: list[str], timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run(command, cwd=self.cwd, capture_output=True, text=True, timeout=timeout, env=self.env)


def _torch_threads(count: int) -> int:
    """Set torch's intra-op threads (importing torch: every page past the first builds a model); the old count."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    return previous


def run_page(page: Path, directory: Path) -> Outcome:
    """Run every block of ``page`` in order in ``directory`` (a copy of examples/ beside it)."""
    outcome = Outcome()
    shutil.copytree(ROOT / "examples", directory / "examples", ignore=shutil.ignore_patterns("shapes*"))
    run = PageRun(directory, directory)
    previous = Path.cwd()
    path = list(sys.path)
    os.chdir(directory)
    # one torch thread: the pages' models are tiny, and on a shared machine more threads only wait for each other
    threads = _torch_threads(1)
    try:
        for block in blocks(page):
            if block.language in SHOWN_LANGUAGES:
                continue
            if block.language not in RUN_LANGUAGES:
                raise BlockFailed(f"{block.where}: a ```{block.language} block: the runner runs "
                                  f"{', '.join(RUN_LANGUAGES)} and shows {', '.join(SHOWN_LANGUAGES)}")
            if block.skip_reason:
                outcome.skipped.append(f"{block.where}: {block.skip_reason}")
                continue
            if block.directive.startswith("skip"):
                raise BlockFailed(f"{block.where}: a skipped block must say why")
            if run.site is not None and str(run.site) not in sys.path:
                sys.path.insert(0, str(run.site))  # Python blocks import what the page installed
            if block.language == "toml":
                _run_toml(block, run)
            elif block.language == "python":
                _run_python(block, run)
            else:
                _run_console(block, run)
            outcome.ran += 1
    finally:
        _torch_threads(threads)
        os.chdir(previous)
        sys.path[:] = path
        if run.site is not None:  # forget the modules the page installed: the next page starts clean
            for name, module in list(sys.modules.items()):
                if str(getattr(module, "__file__", "") or "").startswith(str(run.site)):
                    del sys.modules[name]
        for process in run.background:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        time.sleep(0)
    return outcome


def pages() -> list[Path]:
    return sorted(DOCS.rglob("*.md"))
