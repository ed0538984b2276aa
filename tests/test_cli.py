"""The zoo command line: verbs, JSON output, exit statuses, and cheap listing."""

from __future__ import annotations

import importlib
import json
import os
import signal
import subprocess
import sys

import pytest

from conftest import DIGITS, TINY_MANIFEST, zoo_in_process

NO_HEAVY_IMPORTS = """
import sys
from flexzoo.cli import main
try:
    status = main(sys.argv[1:])
except SystemExit as exc:
    status = exc.code
heavy = sorted(m for m in ("torch", "timm", "numpy", "safetensors", "huggingface_hub", "flexzoo.builtin.layers")
               if m in sys.modules)
print("HEAVY=" + ",".join(heavy), file=sys.stderr)
sys.exit(status)
"""


def heavy_modules_after(*args: str) -> tuple[int, str]:
    result = subprocess.run([sys.executable, "-c", NO_HEAVY_IMPORTS, *args], capture_output=True, text=True,
                            timeout=60)
    line = next(line for line in result.stderr.splitlines() if line.startswith("HEAVY="))
    return result.returncode, line.removeprefix("HEAVY=")


@pytest.mark.parametrize("args", [["list"], ["list", "backbones", "c*"], ["plugins"], ["info", "cnn"],
                                  ["validate", "--static", str(DIGITS)], ["--help"], ["list", "--help"],
                                  ["train", "--help"], ["push", "--help"]])
def test_listing_and_validating_import_no_torch(args):
    status, heavy = heavy_modules_after(*args)
    assert status == 0
    assert heavy == ""


FLEXZOO_MODULES = """
import sys
from flexzoo.cli import main
try:
    status = main(sys.argv[1:])
except SystemExit as exc:
    status = exc.code
print("MODULES=" + ",".join(sorted(sys.modules)), file=sys.stderr)
sys.exit(status)
"""

#: All that ``zoo --version`` imports of flexzoo, and ``zoo --help`` with the module that writes its text: the verbs
#: are listed from flexzoo.cli's table, and a verb's module is imported when the verb is used.
HELP_MODULES = {"flexzoo", "flexzoo._version", "flexzoo.cli"}
#: ``zoo list`` adds its verb's module, discovery, the registry and what the plugins import to register: their
#: declarations (the factories' modules, torch-free) and the helpers those name.
LIST_MODULES = HELP_MODULES | {
    "annotated_types", "flexzoo.cli.catalog", "flexzoo.cli.help_format", "flexzoo.cli.help_text",
    "flexzoo.cli.render", "flexzoo.cli.trace", "flexzoo.errors", "flexzoo.host", "flexzoo.host.listing",
    "flexzoo.host.discovery", "flexzoo.host.entry_point_cache", "flexzoo.host.registry",
    "flexzoo.hub", "flexzoo.hub.references", "flexzoo.hub.sources", "flexzoo.inputs", "flexzoo.inputs.image_suffixes",
    "flexzoo.plugin", "flexzoo.plugin.builtin_tasks", "flexzoo.plugin.components", "flexzoo.plugin.helpers",
    "flexzoo.plugin.hookspecs", "flexzoo.plugin.installed", "flexzoo.plugin.kinds", "flexzoo.plugin.protocols",
    "flexzoo.plugin.restoring", "flexzoo.plugin.shipped_list", "flexzoo.plugin.single_process",
    "flexzoo.plugin.steps", "flexzoo.plugin.tasks", "flexzoo.plugin.tracking", "flexzoo.reporting",
    "flexzoo.reporting.tables"}
#: What costs milliseconds to import and none of these commands needs. `zoo --help` and `--version` import none of
#: them; `zoo list` only annotated-types (the parameter annotations of the factories it lists), pluggy and what
#: dataclasses and typing bring.
COSTLY = {"argparse", "annotated_types", "dataclasses", "inspect", "pluggy", "typing", "json", "importlib.metadata",
          "difflib", "email", "zipfile", "csv", "tarfile", "hashlib", "subprocess", "tomllib", "urllib.request",
          "textwrap", "shutil", "contextlib"}
LIST_COSTLY = {"argparse", "annotated_types", "dataclasses", "inspect", "pluggy", "typing", "json", "contextlib"}


def modules_after(*args: str, env: dict[str, str] | None = None) -> tuple[int, set[str]]:
    result = subprocess.run([sys.executable, "-c", FLEXZOO_MODULES, *args], capture_output=True, text=True,
                            timeout=60, env=env)
    line = next(line for line in result.stderr.splitlines() if line.startswith("MODULES="))
    return result.returncode, set(line.removeprefix("MODULES=").split(","))


def started_with(env: dict[str, str] | None = None) -> set[str]:
    """What the interpreter imports before any command (site, and .pth files such as editable installs' finders)."""
    result = subprocess.run([sys.executable, "-c", "import sys; print(','.join(sys.modules))"], capture_output=True,
                            text=True, timeout=60, env=env, check=True)
    return set(result.stdout.strip().split(","))


def first_party(modules: set[str]) -> set[str]:
    return {m for m in modules if m.split(".")[0] in ("flexzoo", "annotated_types")}


@pytest.mark.parametrize("args", [["--help"], ["--version"]])
def test_help_and_version_import_only_the_cli_and_its_table_of_verbs(args):
    status, loaded = modules_after(*args)
    assert status == 0
    expected = HELP_MODULES | ({"flexzoo.cli.help_text"} if args == ["--help"] else set())
    assert first_party(loaded) == expected, "make these lazy: " + str(sorted(first_party(loaded) - expected))
    assert (loaded - started_with()) & COSTLY == set()  # not even argparse: zoo --help is written without it


#: ``zoo list`` when nothing changed since the last listing: the kept listing, read with json; no plugin, no registry.
KEPT_LIST_MODULES = HELP_MODULES | {
    "flexzoo.cli.catalog", "flexzoo.cli.help_format", "flexzoo.cli.help_text", "flexzoo.cli.render", "flexzoo.host",
    "flexzoo.host.listing", "flexzoo.plugin", "flexzoo.plugin.installed", "flexzoo.reporting",
    "flexzoo.reporting.tables"}


def test_list_reads_the_kept_listing_and_imports_no_plugin(tmp_path):
    env = {**os.environ, "FLEXZOO_CACHE_DIR": str(tmp_path)}
    assert modules_after("list", env=env)[0] == 0  # the first run makes the listing from the registry, and keeps it
    status, loaded = modules_after("list", env=env)
    assert status == 0
    assert first_party(loaded) == KEPT_LIST_MODULES, sorted(first_party(loaded) ^ KEPT_LIST_MODULES)
    assert not {m for m in loaded if m.startswith(("flexzoo_plugin_", "pluggy"))}
    assert (loaded - started_with(env)) & (COSTLY - {"argparse", "json"}) == set()


def test_discovery_imports_the_plugins_declarations_and_not_their_implementations(tmp_path):
    env = {**os.environ, "FLEXZOO_CACHE_DIR": str(tmp_path)}
    assert modules_after("list", env=env)[0] == 0  # the first run after a change reads the installed metadata
    status, loaded = modules_after("--trace-plugins", "list", env=env)  # the registry, made again to be traced
    assert status == 0
    builtin = {m for m in loaded if m.startswith("flexzoo.builtin")}
    extra = first_party(loaded) - builtin - LIST_MODULES
    assert extra == set(), f"`zoo list` imports more than it uses; make these lazy: {sorted(extra)}"
    assert "flexzoo.host.registry" in loaded  # the check sees the modules of a real listing
    assert (loaded - started_with(env)) & (COSTLY - LIST_COSTLY) == set()
    assert not {m for m in builtin if m.endswith("_layers") or m in ("flexzoo.builtin.layers", "flexzoo.builtin.lsuv")}
    plugins = {m for m in loaded if m.startswith("flexzoo_plugin_")}
    declarations = ("", ".model_list", ".backbone", ".backbones", ".factories", ".sizes")
    assert plugins and all(m.partition(".")[1:] == ("", "") or "." + m.partition(".")[2] in declarations
                           for m in plugins), sorted(plugins)


@pytest.mark.parametrize("columns", ["30", "80", "200"])
def test_zoo_help_says_what_the_argument_parser_would(columns, monkeypatch):
    from flexzoo import cli

    monkeypatch.setenv("COLUMNS", columns)
    parser = cli._parser()
    assert zoo_in_process("--help").stdout == zoo_in_process("-h").stdout == parser.format_help()
    usage = parser.format_usage()
    assert all(action.option_strings[0] in usage for action in parser._actions if action.option_strings)


def test_every_verb_in_the_table_is_added_by_its_module_with_the_tables_help():
    import argparse

    from flexzoo import cli

    added = {}
    for module_name in dict.fromkeys(module for module, _ in cli.VERBS.values()):
        module = importlib.import_module(f"flexzoo.cli.{module_name}")
        module.register(lambda name, helptext, handler, json=True, m=module_name: added.setdefault(
            name, (m, helptext)) and argparse.ArgumentParser())
    assert added == cli.VERBS


def test_list_filters_by_kind_and_wildcard(zoo):
    assert [c["name"] for c in zoo.json("list", "initializers", "kaiming_*")] == ["kaiming_normal", "kaiming_uniform"]
    assert [c["qualified_name"] for c in zoo.json("list", "heads")] == [
        "builtin:detection", "builtin:linear", "builtin:mean", "builtin:mlp", "builtin:segmentation", "builtin:vote"]
    assert {c["kind"] for c in zoo.json("list", "mlp")} == {"backbone", "head"}


def test_list_unknown_kind_suggests(zoo):
    result = zoo("list", "backbnes", "*")
    assert result.returncode == 1 and "unknown kind `backbnes`; did you mean `backbones`" in result.stderr  # best first


def test_info_shows_types_defaults_and_docs(zoo):
    result = zoo("info", "cnn")
    assert result.returncode == 0
    row = next(line for line in result.stdout.splitlines() if line.strip().startswith("drop_path_rate"))
    assert "float" in row and "0.0" in row and "stochastic depth" in row
    info = zoo.json("info", "builtin:linear")
    assert info["kind"] == "head"
    assert {p["name"]: (p["type"], p["required"]) for p in info["parameters"]} == {
        "in_features": ("int", False), "num_classes": ("int", True), "dropout": ("float", False),
        "bias": ("bool", False)}


def test_info_unknown_component_suggests(zoo):
    result = zoo("info", "kaiming_norml")
    assert result.returncode == 1 and "did you mean `kaiming_normal`" in result.stderr


def test_errors_go_to_stderr_without_traceback(zoo, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[model\n")
    result = zoo("build", str(bad), "-o", str(tmp_path / "out"))
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.startswith(f"zoo: error: {bad}:1: TOML syntax error")
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_debug_shows_the_traceback(zoo, tmp_path):
    result = zoo("--debug", "validate", str(tmp_path / "missing.toml"))
    assert result.returncode != 0 and "Traceback" in result.stderr and "ManifestError" in result.stderr


def test_usage_error_exits_2(zoo):
    result = zoo("frobnicate")
    assert result.returncode == 2 and "invalid choice: 'frobnicate'" in result.stderr


def test_bad_plugin_option(zoo):
    result = zoo("-p", "good", "list")
    assert result.returncode == 2 and "-p takes no:NAME" in result.stderr


def test_validate_reports_valid_and_resolved(zoo):
    result = zoo.json("validate", str(DIGITS))
    assert result["valid"] is True and result["resolved"]["backbone"]["use"] == "builtin:cnn"


@pytest.mark.slow
def test_build_then_inspect_shows_both_heads(zoo, tmp_path):
    built = zoo("build", str(DIGITS), "-o", str(tmp_path))
    assert built.returncode == 0, built.stderr
    assert f"wrote {tmp_path / 'digits-multitask.safetensors'}" in built.stdout
    shown = zoo("inspect", str(tmp_path / "digits-multitask.safetensors"))
    assert shown.returncode == 0
    assert "digit   builtin:linear" in shown.stdout and "output [1, 10]" in shown.stdout
    assert "parity  builtin:mlp" in shown.stdout and "output [1, 2]" in shown.stdout
    card = json.loads(zoo("inspect", "--json", str(tmp_path / "digits-multitask.safetensors")).stdout)["card"]
    assert card["heads"]["digit"]["output_shape"] == [1, 10] and card["heads"]["parity"]["output_shape"] == [1, 2]


def test_inspect_imports_no_torch(tmp_path):
    import numpy as np
    from safetensors.numpy import save_file

    path = tmp_path / "plain.safetensors"
    save_file({"w": np.zeros(3, dtype=np.float32)}, str(path))
    status, heavy = heavy_modules_after("inspect", str(path))
    assert status == 1 and heavy == ""


def test_inspecting_a_real_artifact_imports_no_torch(tmp_path, manifest_file, registry):
    import flexzoo

    path = flexzoo.save(flexzoo.build(manifest_file(TINY_MANIFEST), registry), tmp_path / "out", registry)
    status, heavy = heavy_modules_after("inspect", str(path))
    assert status == 0 and heavy == ""


FINALIZER_GETS_SIGTERM = """
import os, pathlib, signal, sys, time
from flexzoo.cli import sigterm_unwinds

class Finalized:
    def __del__(self):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.5)  # the handler raises here, inside the finalizer, where Python swallows it

with sigterm_unwinds():
    try:
        Finalized()
        time.sleep(30)
        print("still running after SIGTERM")
    finally:
        pathlib.Path(sys.argv[1]).write_text("unwound")
"""


@pytest.mark.processes
def test_a_sigterm_that_lands_in_a_finalizer_still_unwinds_the_run_without_a_traceback(tmp_path):
    marker = tmp_path / "marker"
    done = subprocess.run([sys.executable, "-c", FINALIZER_GETS_SIGTERM, str(marker)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 128 + signal.SIGTERM, done.stderr
    assert marker.read_text() == "unwound"
    assert done.stdout == "" and done.stderr == ""  # stopped before the 30 s sleep ended, and quietly


PROCESS_EXIT = """
import atexit, gc, sys
from flexzoo.cli import run
atexit.register(lambda: print(f"FROZEN={gc.get_freeze_count()}", file=sys.stderr))
status = run()
print(f"STATUS={status}", file=sys.stderr)
raise SystemExit(status)
"""


@pytest.mark.parametrize(("args", "expected"), [(["validate", str(DIGITS)], 0),
                                                (["validate", "no-such-manifest.toml"], 1)])
def test_the_zoo_process_keeps_mains_status_and_freezes_what_is_alive_before_it_exits(args, expected, tmp_path):
    """``run`` (the console script, ``python -m flexzoo``) returns main's status, runs atexit functions, and
    leaves the objects alive at the end to the exit rather than to the last garbage collections."""
    done = subprocess.run([sys.executable, "-c", PROCESS_EXIT, *args], capture_output=True, text=True, timeout=120,
                          cwd=tmp_path)
    assert done.returncode == expected, done.stderr
    assert f"STATUS={expected}" in done.stderr
    frozen = int(next(line for line in done.stderr.splitlines() if line.startswith("FROZEN=")).removeprefix("FROZEN="))
    assert frozen > 10_000  # far more once validating has imported torch; none at all without run()
    if expected:
        assert "zoo: error:" in done.stderr and "Traceback" not in done.stderr


RANK_EXIT = """
import atexit, os, sys, threading, time
from flexzoo.cli import run

class Finalized:
    def __del__(self, write=os.write):  # the module's globals may be gone by then
        write(2, b"FINALIZED\\n")

kept = Finalized()
atexit.register(lambda: print("ATEXIT", file=sys.stderr))
threading.Thread(target=lambda: (time.sleep(0.3), os.write(2, b"THREAD DONE\\n"))).start()
sys.stdout.write("BUFFERED")  # no newline and no flush: it must still come out
status = run()
print("RUN RETURNED", file=sys.stderr)
raise SystemExit(status)
"""


CNN_ON_A_VECTOR = """
[model]
name = "flat"
input_shape = [8]

[backbone]
use = "cnn"
channels = [8]

[heads.digit]
use = "linear"
num_classes = 10
"""


@pytest.mark.parametrize(("manifest", "rank", "expected", "leaves_at_once"), [
    (DIGITS, True, 0, True),
    ("cnn-on-a-vector.toml", True, 1, True),  # fails once torch is imported: the rank still leaves at once
    (DIGITS, False, 0, False),
    ("no-such-manifest.toml", True, 1, False),  # fails before torch is imported: there is no process group to fear
])
def test_a_rank_ends_without_finalizing_the_interpreter_and_loses_nothing(manifest, rank, expected, leaves_at_once,
                                                                          tmp_path):
    """A rank of a distributed run (torchrun's LOCAL_RANK) leaves without interpreter finalization, where a gloo
    worker thread still letting go of a collective's tensors aborts the process; it still waits for its threads,
    runs atexit functions, flushes its output and keeps main's status. Any other process finalizes as before."""
    (tmp_path / "cnn-on-a-vector.toml").write_text(CNN_ON_A_VECTOR)
    env = {key: value for key, value in os.environ.items() if key not in ("LOCAL_RANK", "TORCHELASTIC_RUN_ID")}
    if rank:
        env["LOCAL_RANK"] = "1"
    done = subprocess.run([sys.executable, "-c", RANK_EXIT, "validate", str(manifest)], capture_output=True,
                          text=True, timeout=120, cwd=tmp_path, env=env)
    assert done.returncode == expected, done.stderr
    assert done.stdout.startswith("BUFFERED")
    lines = done.stderr.splitlines()
    assert "THREAD DONE" in lines and "ATEXIT" in lines
    assert lines.index("THREAD DONE") < lines.index("ATEXIT")  # as Python orders them: threads, then atexit
    assert ("RUN RETURNED" in lines) is not leaves_at_once
    if leaves_at_once:  # (finalizing after torch's import runs the finalizer: the third case shows it)
        assert "FINALIZED" not in lines
    elif manifest == DIGITS:
        assert "FINALIZED" in lines
    if expected:
        assert "zoo: error:" in done.stderr and "Traceback" not in done.stderr
