"""`zoo new-plugin`: what a third party does, from scaffold to a built model, with a real pip install."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from flexzoo.plugin.components import KINDS

ALL_KINDS = ",".join(KINDS)  # a newly declared kind is scaffolded, installed and trained too


MANIFEST = """
[model]
name = "acme-model"
seed = 0
input_shape = [1, 8, 8]

[backbone]
use = "flat"

[heads.digit]
use = "dense"
num_classes = 10

[heads.parity]
use = "dense"
num_classes = 2

[[init]]
use = "small_normal"

[[compress]]
use = "magnitude_prune"

[distributed]
use = "threads"

[train]
data = "digits"
epochs = 1

[track]
use = ["jsonl_log"]

[track.jsonl_log]
every = 1
"""

STRIPES = """
[model]
name = "acme-stripes"
input_shape = [1, 8, 8]

[backbone]
use = "flat"

[heads.label]
use = "dense"
num_classes = 2

[train]
data = "stripes"
epochs = 1

[train.source]
size = 40
"""


@pytest.mark.slow
def test_scaffolded_plugin_installs_passes_its_tests_trains_and_builds(zoo, tmp_path):
    created = zoo("new-plugin", "acme", "--kinds", ALL_KINDS, "-o", str(tmp_path))
    assert created.returncode == 0, created.stderr
    package = tmp_path / "flexzoo-plugin-acme"
    install = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                              "--no-index", "--target", str(zoo.site), str(package)],
                             capture_output=True, text=True, timeout=300)
    assert install.returncode == 0, install.stderr
    elsewhere = tmp_path / "elsewhere"  # not the source tree: the tests must import the installed package
    elsewhere.mkdir()
    tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(package / "tests")],
                           cwd=elsewhere, env=zoo.env, capture_output=True, text=True, timeout=600)
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert " passed" in tests.stdout and "failed" not in tests.stdout

    listed = {c["qualified_name"]: c["kind"] for c in zoo.json("list", "acme:*")}
    assert listed == {"acme:flat": "backbone", "acme:dense": "head", "acme:small_normal": "initializer",
                      "acme:magnitude_prune": "compressor", "acme:threads": "strategy", "acme:stripes": "dataset",
                      "acme:jsonl_log": "tracker", "acme:gradient_times_input": "explainer"}
    acme = next(p for p in zoo.json("plugins") if p["name"] == "acme")
    assert (acme["distribution"], acme["status"], acme["api"]) == ("flexzoo-plugin-acme", "loaded", 2)

    manifest = tmp_path / "model.toml"
    manifest.write_text(MANIFEST)
    trained = zoo("train", str(manifest), "-o", str(tmp_path / "trained"), "-q", timeout=300)
    assert trained.returncode == 0, trained.stderr
    card = zoo.json("inspect", str(tmp_path / "trained" / "acme-model.safetensors"))
    assert card["manifest"]["distributed"]["use"] == "acme:threads"
    assert card["training"]["epochs_run"] == 1 and card["training"]["strategy"] == "acme:threads"
    assert set(card["training"]["final_validation"]) >= {"digit.accuracy", "parity.accuracy"}
    assert len(card["training"]["metrics_jsonl"].splitlines()) == 1  # one epoch recorded
    logged = (tmp_path / "trained" / "acme-model.train" / "log.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in logged]  # the scaffold's tracker logged the run, as [track] asked
    assert records[0] == {"run": "acme-model", "epochs": 1} and records[-1] == {"status": "finished"}
    assert [record["epoch"] for record in records[1:-1]] == [1] and "validation/digit.accuracy" in records[1]

    on_stripes = tmp_path / "stripes.toml"
    on_stripes.write_text(STRIPES)
    trained = zoo("train", str(on_stripes), "-o", str(tmp_path / "stripes"), "-q", timeout=300)
    assert trained.returncode == 0, trained.stderr
    card = zoo.json("inspect", str(tmp_path / "stripes" / "acme-stripes.safetensors"))
    assert card["manifest"]["train"]["source"] == {"use": "acme:stripes", "size": 40}
    assert card["card"]["heads"]["label"]["labels"] == ["horizontal", "vertical"]
    assert card["training"]["data"]["train_samples"] == 32

    built = zoo("build", str(manifest), "-o", str(tmp_path / "built"))
    assert built.returncode == 0, built.stderr
    card = zoo.json("inspect", str(tmp_path / "built" / "acme-model.safetensors"))
    assert {key: card["manifest"][key]["use"] for key in ("backbone", "distributed")} == \
        {"backbone": "acme:flat", "distributed": "acme:threads"}
    assert [step["use"] for step in card["manifest"]["compress"]] == ["acme:magnitude_prune"]
    assert {name: head["use"] for name, head in card["manifest"]["heads"].items()} == \
        {"digit": "acme:dense", "parity": "acme:dense"}


def test_new_plugin_refuses_a_name_that_is_not_an_identifier(zoo, tmp_path):
    result = zoo("new-plugin", "Acme-Tools", "-o", str(tmp_path))
    assert result.returncode == 1
    assert "`Acme-Tools` is not a plugin name" in result.stderr and "for example `acme_tools`" in result.stderr
    assert not list(tmp_path.iterdir())


def test_new_plugin_never_overwrites(zoo, tmp_path):
    (tmp_path / "flexzoo-plugin-acme").mkdir()
    result = zoo("new-plugin", "acme", "-o", str(tmp_path))
    assert result.returncode == 1 and "already exists" in result.stderr


def test_new_plugin_names_an_unknown_kind(zoo, tmp_path):
    result = zoo("new-plugin", "acme", "--kinds", "backbone,haeds", "-o", str(tmp_path))
    assert result.returncode == 1 and "unknown kind `haeds`; did you mean `head`?" in result.stderr
