"""zoo_index.json: fresh, valid against its schema, searchable, and the source of 'pip install' hints."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import jsonschema
import pytest

ROOT = Path(__file__).resolve().parents[1]
THIRD_PARTY = {
    "name": "acme", "distribution": "flexzoo-plugin-acme-not-installed", "version": "2.0.0",
    "summary": "Wide backbones from Acme.", "homepage": "https://example.org/acme", "first_party": False,
    "plugin_api": [1], "flexzoo": ">=0.1", "components": {"backbone": ["wide"]}, "patterns": {"head": ["acme_*"]},
}


@pytest.fixture
def catalogue(tmp_path, zoo) -> Path:
    """The repository's catalogue plus one third-party plugin that is not installed."""
    index = json.loads((ROOT / "zoo_index.json").read_text())
    index["plugins"].append(THIRD_PARTY)
    path = tmp_path / "zoo_index.json"
    path.write_text(json.dumps(index))
    zoo.env["FLEXZOO_INDEX"] = str(path)
    return path


def test_the_committed_index_is_up_to_date(zoo):
    result = zoo("index", "--check", "--root", str(ROOT))
    assert result.returncode == 0, result.stderr
    assert "is up to date" in result.stdout


def test_the_committed_index_follows_its_schema():
    schema = json.loads((ROOT / "zoo_index.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(json.loads((ROOT / "zoo_index.json").read_text()), schema)


def test_every_first_party_plugin_has_an_entry():
    sources = {e.get("source") for e in json.loads((ROOT / "zoo_index.json").read_text())["plugins"]}
    assert {f"plugins/{d.name}" for d in (ROOT / "plugins").iterdir() if (d / "pyproject.toml").exists()} <= sources
    assert "." in sources  # the host's own plugin, builtin


@pytest.fixture
def checkout(tmp_path) -> Path:
    """A minimal flexzoo checkout: the root pyproject, the version module, the schema, no plugins."""
    root = tmp_path / "checkout"
    (root / "core" / "flexzoo").mkdir(parents=True)
    for name in ("pyproject.toml", "zoo_index.schema.json", "core/flexzoo/_version.py"):
        shutil.copy(ROOT / name, root / name)
    return root


def test_check_fails_on_a_stale_index_and_index_repairs_it(zoo, checkout):
    assert zoo("index", "--root", str(checkout)).returncode == 0
    index = json.loads((checkout / "zoo_index.json").read_text())
    index["plugins"][0]["components"]["backbone"].remove("cnn")
    index["plugins"].append(THIRD_PARTY)
    (checkout / "zoo_index.json").write_text(json.dumps(index, indent=2) + "\n")
    result = zoo("index", "--check", "--root", str(checkout))
    assert result.returncode == 1
    assert "zoo_index.json is stale (entries: builtin); run `zoo index` and commit it" in result.stderr
    assert zoo("index", "--root", str(checkout)).returncode == 0
    repaired = json.loads((checkout / "zoo_index.json").read_text())
    assert [e["name"] for e in repaired["plugins"]] == ["acme", "builtin"]  # third-party entries are kept
    assert "cnn" in repaired["plugins"][1]["components"]["backbone"]
    assert zoo("index", "--check", "--root", str(checkout)).returncode == 0


def test_index_refuses_an_entry_that_breaks_the_schema(zoo, checkout):
    broken = {**THIRD_PARTY, "plugin_api": []}
    (checkout / "zoo_index.json").write_text(json.dumps({"format": 1, "plugins": [broken]}))
    result = zoo("index", "--check", "--root", str(checkout))
    assert result.returncode == 1
    assert "breaks its schema" in result.stderr and "plugins/0/plugin_api" in result.stderr


def test_search_finds_plugins_installed_or_not(zoo, catalogue):
    found = {r["name"]: r for r in zoo.json("search", "wide")}
    assert found["acme"]["installed"] is None and found["acme"]["matches"] == ["summary", "backbone wide"]
    builtin = next(r for r in zoo.json("search", "kaiming*") if r["name"] == "builtin")
    assert builtin["installed"] == builtin["version"]
    assert builtin["matches"] == ["initializer kaiming_normal", "initializer kaiming_uniform"]
    table = zoo("search", "acme")
    assert table.returncode == 0
    assert next(line for line in table.stdout.splitlines() if line.startswith("acme")).split()[3] == "no"


def test_search_matches_a_name_against_patterns(zoo, catalogue):
    assert [r["matches"] for r in zoo.json("search", "acme_head") if r["name"] == "acme"] == [["head acme_*"]]


def test_search_lists_the_models_a_catalogue_entry_publishes(zoo, tmp_path):
    index = json.loads((ROOT / "zoo_index.json").read_text())
    index["plugins"].append({**THIRD_PARTY, "models": ["hf-hub:acme/wide-digits", "hf-hub:acme/wide-shapes@v1"]})
    jsonschema.validate(index, json.loads((ROOT / "zoo_index.schema.json").read_text()))
    path = tmp_path / "zoo_index.json"
    path.write_text(json.dumps(index))
    zoo.env["FLEXZOO_INDEX"] = str(path)
    (found,) = zoo.json("search", "acme/wide-digits")
    assert found["name"] == "acme" and found["matches"] == ["model hf-hub:acme/wide-digits"]
    assert found["models"] == ["hf-hub:acme/wide-digits", "hf-hub:acme/wide-shapes@v1"]
    shown = zoo("search", "acme").stdout.splitlines()
    assert shown[shown.index("") + 1].split() == ["PLUGIN", "PUBLISHED", "MODEL"]
    assert [line.split() for line in shown[shown.index("") + 2:]] == [
        ["acme", "hf-hub:acme/wide-digits"], ["acme", "hf-hub:acme/wide-shapes@v1"]]


def test_the_schema_refuses_a_model_that_is_not_a_hub_reference():
    index = {"format": 1, "plugins": [{**THIRD_PARTY, "models": ["out/model.safetensors"]}]}
    with pytest.raises(jsonschema.ValidationError, match="does not match"):
        jsonschema.validate(index, json.loads((ROOT / "zoo_index.schema.json").read_text()))


def test_search_without_a_match_fails(zoo, catalogue):
    result = zoo("search", "no-such-thing-anywhere")
    assert result.returncode == 1 and "no known plugin matches `no-such-thing-anywhere`" in result.stderr


MANIFEST = '[model]\nname = "m"\ninput_shape = [4]\n[backbone]\nuse = "{use}"\n[heads.y]\nuse = "{head}"\n'


@pytest.mark.parametrize("use", ["wide", "acme:wide"])
def test_a_catalogued_component_names_the_package_to_install(zoo, catalogue, tmp_path, use):
    manifest = tmp_path / "m.toml"
    manifest.write_text(MANIFEST.format(use=use, head="linear"))
    result = zoo("validate", str(manifest))
    assert result.returncode == 1
    assert "fix: the plugin `acme` offers `acme:wide`: pip install flexzoo-plugin-acme-not-installed" in result.stderr


def test_a_name_matching_a_catalogued_pattern_names_the_package(zoo, catalogue, tmp_path):
    manifest = tmp_path / "m.toml"
    manifest.write_text(MANIFEST.format(use="mlp", head="acme_big"))
    result = zoo("validate", str(manifest))
    assert "the plugin `acme` offers heads matching `acme_*`: pip install flexzoo-plugin-acme-not-installed" \
        in result.stderr


def test_a_catalogued_plugin_that_is_installed_but_blocked_is_named_with_its_reason(zoo, catalogue, tmp_path):
    zoo.install("flexzoo-plugin-acme-not-installed", "2.0.0", {"acme_plugin": "import flexzoo"},
                {"acme": "acme_plugin"})
    manifest = tmp_path / "m.toml"
    manifest.write_text(MANIFEST.format(use="wide", head="linear"))
    result = zoo("-p", "no:acme", "validate", str(manifest))
    assert "fix: the plugin `acme` offers `acme:wide` but is not loaded (blocked: blocked by -p no:acme)" \
        in result.stderr


def test_an_unknown_name_nobody_offers_still_gets_suggestions(zoo, catalogue, tmp_path):
    manifest = tmp_path / "m.toml"
    manifest.write_text(MANIFEST.format(use="mpl", head="linear"))
    result = zoo("validate", str(manifest))
    assert "unknown backbone `mpl`" in result.stderr and "did you mean `mlp`" in result.stderr


def test_the_catalogue_shipped_with_flexzoo_is_found_without_flexzoo_index(monkeypatch):
    from flexzoo.host import catalogue

    monkeypatch.delenv(catalogue.INDEX_ENV, raising=False)
    assert catalogue.index_path().is_file(), catalogue.index_path()
