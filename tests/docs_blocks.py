"""The docs' own block runner: every fenced code block of a page under docs/ runs, in order, in one directory.

- ``toml``: validated as a manifest (``flexzoo.manifest.validation.load_manifest``). A block without
  ``[model]`` is a fragment, validated merged onto :data:`BASE`.
- ``python``: executed; the blocks of a page share one namespace.
- ``console``: each ``$ command`` runs (``\\`` continues a line); the lines after it, up to the next
  command, are its expected output: each must appear, in order, in what it printed (stdout and stderr),
  where ``...`` stands for anything (a whole line of it, for any lines). ``zoo ...`` runs in this process
  (``flexzoo.cli.main``), ``python ...`` in a subprocess, and a command ending in `` &`` in the background
  until the page is done. Output that shows ``zoo: error`` expects exit status 1, anything else 0.
- ``text`` blocks are shown output, not code, and are not run.

An HTML comment on the line before a block changes how it runs: ``<!-- docs-test: file NAME -->``
writes the block to NAME first (``file NAME invalid``: a manifest validation must refuse), and
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


def _run_toml(block: Block, directory: Path) -> None:
    import tomllib

    from flexzoo.errors import ManifestError
    from flexzoo.manifest.validation import load_manifest

    parts = block.directive.split()
    if parts[:1] == ["file"]:
        path = directory / parts[1]
        path.write_text(block.body, encoding="utf-8")
        invalid = "invalid" in parts[2:]
    else:
        data = tomllib.loads(block.body)
        path = directory / "_block.toml"
        path.write_text(block.body if "model" in data else _toml_text(_merge(BASE, data)), encoding="utf-8")
        invalid = False
    try:
        load_manifest(path)
    except ManifestError as exc:
        if not invalid:
            raise BlockFailed(f"{block.where}: the manifest does not validate:\n{exc}") from None
        return
    if invalid:
        raise BlockFailed(f"{block.where}: the page says this manifest is refused, and it validates")


def _run_python(block: Block, namespace: dict) -> None:
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


def _run_console(block: Block, directory: Path, background: list[subprocess.Popen]) -> None:
    for command, expected in _commands(block.body):
        words = shlex.split(_without_comment(command))
        if words and words[-1] == "&":
            words = words[:-1]
            program = ["zoo", *words[1:]] if words[0] == "zoo" else words
            executable = [sys.executable, "-m", "flexzoo", *program[1:]] if program[0] == "zoo" else program
            background.append(subprocess.Popen(executable, cwd=directory, stdout=subprocess.DEVNULL,
                                               stderr=subprocess.DEVNULL, env={**os.environ, "OMP_NUM_THREADS": "1"}))
            continue
        if words[0] == "zoo":
            status, printed = _run_zoo(words[1:])
        elif words[0] == "python":
            done = subprocess.run([sys.executable, *words[1:]], cwd=directory, capture_output=True, text=True,
                                  timeout=120, env={**os.environ, "OMP_NUM_THREADS": "1"})
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
    namespace: dict = {"__name__": "__docs__"}
    background: list[subprocess.Popen] = []
    previous = Path.cwd()
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
            if block.language == "toml":
                _run_toml(block, directory)
            elif block.language == "python":
                _run_python(block, namespace)
            else:
                _run_console(block, directory, background)
            outcome.ran += 1
    finally:
        _torch_threads(threads)
        os.chdir(previous)
        for process in background:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        time.sleep(0)
    return outcome


#: Pages whose blocks this runner does not run yet, with the reason (the plugin guide's snippets are a plugin's
#: source files, not commands; tests/test_docs.py checks its hook reference and the switches it names).
NOT_RUN = {"plugins.md": "a plugin package's source files, not runnable steps; checked by tests/test_docs.py"}


def pages() -> list[Path]:
    return sorted(page for page in DOCS.rglob("*.md") if str(page.relative_to(DOCS)) not in NOT_RUN)
