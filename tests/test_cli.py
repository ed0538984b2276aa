"""The zoo command line: verbs, JSON output, exit statuses, and cheap listing."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import pytest

from conftest import DIGITS, TINY_MANIFEST

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
loaded = sorted(m for m in sys.modules if m == "flexzoo" or m.startswith("flexzoo.") or m == "annotated_types")
print("MODULES=" + ",".join(loaded), file=sys.stderr)
sys.exit(status)
"""

#: What ``zoo --help`` and ``zoo --version`` may import of flexzoo: the package, the verbs' parsers and what
#: they declare with. Validation, the registry, training, serving and annotated-types load when a verb runs.
HELP_MODULES = {
    "flexzoo", "flexzoo._version", "flexzoo.cli", "flexzoo.errors", "flexzoo.host", "flexzoo.hub",
    "flexzoo.hub.references", "flexzoo.hub.sources", "flexzoo.manifest", "flexzoo.manifest.defaults",
    "flexzoo.plugin", "flexzoo.plugin.components", "flexzoo.plugin.hookspecs", "flexzoo.plugin.kinds",
    "flexzoo.plugin.protocols", "flexzoo.plugin.single_process", "flexzoo.plugin.steps", "flexzoo.plugin.tracking",
    "flexzoo.reporting", "flexzoo.reporting.tables"}
#: ``zoo list`` adds discovery, the registry and what the plugins import at registration (the helpers);
#: flexzoo.builtin.* are the built-in plugin's own modules. No manifest validation, no training.
LIST_MODULES = HELP_MODULES | {
    "annotated_types", "flexzoo.atomic", "flexzoo.builtin", "flexzoo.host.catalogue", "flexzoo.host.discovery",
    "flexzoo.host.entry_point_cache", "flexzoo.host.registry", "flexzoo.hub.cache", "flexzoo.hub.digest",
    "flexzoo.hub.lock", "flexzoo.hub.scope", "flexzoo.hub.weights", "flexzoo.inputs",
    "flexzoo.inputs.image_suffixes", "flexzoo.plugin.helpers", "flexzoo.plugin.restoring",
    "flexzoo.plugin.safetensors_header", "flexzoo.plugin.shipped_list", "flexzoo.plugin.weights_file",
    "flexzoo.plugin.tasks", "flexzoo.plugin.builtin_tasks"}  # the builtin heads' tasks (declarations, no torch)


def modules_after(*args: str) -> tuple[int, set[str]]:
    result = subprocess.run([sys.executable, "-c", FLEXZOO_MODULES, *args], capture_output=True, text=True,
                            timeout=60)
    line = next(line for line in result.stderr.splitlines() if line.startswith("MODULES="))
    return result.returncode, set(line.removeprefix("MODULES=").split(","))


@pytest.mark.parametrize(("args", "allowed"), [(["--help"], HELP_MODULES), (["--version"], HELP_MODULES),
                                               (["list"], LIST_MODULES)])
def test_help_and_list_import_only_what_they_use(args, allowed):
    status, loaded = modules_after(*args)
    assert status == 0
    extra = {m for m in loaded - allowed if not m.startswith(("flexzoo.cli.", "flexzoo.builtin."))}
    assert extra == set(), f"`zoo {' '.join(args)}` imports more than it uses; make these lazy: {sorted(extra)}"
    assert "flexzoo.cli.catalog" in loaded  # every verb's parser is built, as `zoo --help` lists them
    if args == ["list"]:
        assert "flexzoo.host.registry" in loaded  # the check sees the modules of a real listing


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
