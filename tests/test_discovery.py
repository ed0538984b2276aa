"""Plugins are real installed distributions; a broken one is reported and skipped, never fatal."""

from __future__ import annotations

import json

import flexzoo.builtin

GOOD = """
import flexzoo

def wide(input_shape: tuple, width: int = 8):
    '''A one-layer backbone.'''
    import torch
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.LazyLinear(width))

@flexzoo.hookimpl
def flexzoo_backbones():
    return [flexzoo.Component("wide", wide)]
"""


def plugin_states(zoo) -> dict[str, dict]:
    return {p["name"] + "@" + (p["distribution"] or ""): p for p in zoo.json("plugins")}


def by_name(zoo) -> dict[str, dict]:
    return {p["name"]: p for p in zoo.json("plugins")}


def test_builtin_is_registered_through_the_entry_point_group(zoo):
    builtin = by_name(zoo)["builtin"]
    assert builtin["distribution"] == "flexzoo" and builtin["status"] == "loaded"
    assert builtin["components"]["backbone"] == [c.name for c in flexzoo.builtin.flexzoo_backbones()]
    assert builtin["components"]["backbone"][:2] == ["mlp", "cnn"]


def test_a_third_party_plugin_adds_components(zoo):
    zoo.install("flexzoo-plugin-good", "1.2.0", {"good_plugin": GOOD}, {"good": "good_plugin"})
    listed = zoo.json("list", "backbones")
    assert {"kind": "backbone", "name": "wide", "plugin": "good", "qualified_name": "good:wide",
            "summary": "A one-layer backbone."} in listed


def test_plugin_raising_at_import_is_reported_and_skipped(zoo):
    zoo.install("flexzoo-plugin-broken", "0.3.0", {"broken_plugin": "raise RuntimeError('boom at import')"},
                {"broken": "broken_plugin"})
    zoo.install("flexzoo-plugin-good", "1.2.0", {"good_plugin": GOOD}, {"good": "good_plugin"})
    plugins = by_name(zoo)
    broken = plugins["broken"]
    assert broken["status"] == "failed"
    assert broken["distribution"] == "flexzoo-plugin-broken" and broken["version"] == "0.3.0"
    assert broken["error"] == "import failed: RuntimeError: boom at import"
    assert plugins["good"]["status"] == "loaded" and plugins["builtin"]["status"] == "loaded"
    result = zoo("list")
    assert result.returncode == 0 and "wide" in result.stdout
    assert "1 plugin(s) failed to load (broken)" in result.stderr


def test_plugin_table_shows_the_reason(zoo):
    zoo.install("flexzoo-plugin-broken", "0.3.0", {"broken_plugin": "import no_such_module_xyz"},
                {"broken": "broken_plugin"})
    result = zoo("plugins")
    assert result.returncode == 0
    line = next(line for line in result.stdout.splitlines() if line.startswith("broken"))
    assert "flexzoo-plugin-broken" in line and "0.3.0" in line and "failed" in line
    assert "No module named 'no_such_module_xyz'" in line


def test_plugin_exiting_at_import_does_not_stop_the_host(zoo):
    zoo.install("flexzoo-plugin-exits", "1.0", {"exits_plugin": "import sys; sys.exit(3)"}, {"exits": "exits_plugin"})
    assert by_name(zoo)["exits"]["error"] == "import failed: SystemExit: 3"


def test_hook_returning_something_else_than_components(zoo):
    code = "import flexzoo\n@flexzoo.hookimpl\ndef flexzoo_heads():\n    return ['linear2']\n"
    zoo.install("flexzoo-plugin-odd", "1.0", {"odd_plugin": code}, {"odd": "odd_plugin"})
    odd = by_name(zoo)["odd"]
    assert odd["status"] == "failed"
    assert odd["error"].startswith("flexzoo_heads() returned a str ('linear2'), expected flexzoo.Component")
    assert zoo.json("list", "heads") and all(c["plugin"] == "builtin" for c in zoo.json("list", "heads"))


def test_hook_returning_none(zoo):
    code = "import flexzoo\n@flexzoo.hookimpl\ndef flexzoo_heads():\n    pass\n"
    zoo.install("flexzoo-plugin-none", "1.0", {"none_plugin": code}, {"nothing": "none_plugin"})
    assert "returned NoneType, expected a list of flexzoo.Component" in by_name(zoo)["nothing"]["error"]


def test_unknown_hook_name_is_an_invalid_plugin(zoo):
    code = "import flexzoo\n@flexzoo.hookimpl\ndef flexzoo_backbone():\n    return []\n"
    zoo.install("flexzoo-plugin-typo", "1.0", {"typo_plugin": code}, {"typo": "typo_plugin"})
    typo = by_name(zoo)["typo"]
    assert typo["status"] == "failed"
    assert typo["error"] == "implements unknown hook flexzoo_backbone(); did you mean flexzoo_backbones?"


def test_unsupported_plugin_api_version(zoo):
    code = GOOD + "\nFLEXZOO_PLUGIN_API = 99\n"
    zoo.install("flexzoo-plugin-future", "5.0", {"future_plugin": code}, {"future": "future_plugin"})
    future = by_name(zoo)["future"]
    assert future["status"] == "failed"
    assert future["error"] == "written for plugin API 99; this flexzoo supports API 1 and 2"
    assert all(c["plugin"] != "future" for c in zoo.json("list"))


def test_unsupported_api_in_metadata_is_refused_before_import(zoo):
    code = "raise RuntimeError('imported although its metadata says API 3')\n" + GOOD
    zoo.install("flexzoo-plugin-next", "2.0", {"next_plugin": code}, {"next": "next_plugin"},
                keywords="flexzoo,flexzoo-plugin-api-3")
    future = by_name(zoo)["next"]
    assert future["status"] == "failed" and future["api"] == 3
    assert future["error"] == ("written for plugin API 3; this flexzoo supports API 1 and 2 "
                               "(metadata keyword flexzoo-plugin-api-3; not imported)")


def test_supported_api_in_metadata_loads(zoo):
    zoo.install("flexzoo-plugin-good", "1.2.0", {"good_plugin": GOOD}, {"good": "good_plugin"},
                keywords="flexzoo-plugin-api-1")
    good = by_name(zoo)["good"]
    assert good["status"] == "loaded" and good["api"] == 1


def test_trace_shows_discovery_and_each_plugins_times(zoo):
    zoo.install("flexzoo-plugin-good", "1.2.0", {"good_plugin": GOOD}, {"good": "good_plugin"})
    result = zoo("--trace-plugins", "list", "backbones")
    assert result.returncode == 0
    lines = result.stderr.splitlines()
    assert lines[0].startswith("zoo: plugin trace: entry points found in ") and lines[0].endswith(" ms in all")
    assert lines[1].split() == ["PLUGIN", "DISTRIBUTION", "VERSION", "API", "STATUS", "IMPORT", "ms", "REGISTER",
                                "ms", "COMPONENTS"]
    good = next(line.split() for line in lines if line.startswith("good "))
    assert good[:5] == ["good", "flexzoo-plugin-good", "1.2.0", "-", "loaded"] and good[7] == "1"
    assert float(good[5]) > 0 and float(good[6]) > 0


def test_two_distributions_with_one_plugin_name(zoo):
    zoo.install("flexzoo-plugin-a", "1.0", {"a_plugin": GOOD}, {"same": "a_plugin"})
    zoo.install("flexzoo-plugin-b", "1.0", {"b_plugin": GOOD}, {"same": "b_plugin"})
    same = [p for p in zoo.json("plugins") if p["name"] == "same"]
    assert [(p["distribution"], p["status"]) for p in same] == [("flexzoo-plugin-a", "loaded"),
                                                                ("flexzoo-plugin-b", "failed")]
    assert "already taken by distribution flexzoo-plugin-a" in same[1]["error"]


def test_bare_name_offered_by_two_plugins_is_ambiguous(zoo, tmp_path):
    zoo.install("flexzoo-plugin-one", "1.0", {"one_plugin": GOOD}, {"one": "one_plugin"})
    zoo.install("flexzoo-plugin-two", "1.0", {"two_plugin": GOOD}, {"two": "two_plugin"})
    manifest = tmp_path / "m.toml"
    manifest.write_text('[model]\nname = "m"\ninput_shape = [4]\n[backbone]\nuse = "wide"\n'
                        '[heads.y]\nuse = "linear"\nnum_classes = 2\n')
    result = zoo("validate", str(manifest))
    assert result.returncode == 1
    assert "`wide` is ambiguous: `one:wide` and `two:wide` both offer a backbone" in result.stderr
    manifest.write_text(manifest.read_text().replace('"wide"', '"two:wide"'))
    assert zoo("validate", str(manifest)).returncode == 0


def test_plugin_blocked_on_the_command_line(zoo):
    zoo.install("flexzoo-plugin-good", "1.2.0", {"good_plugin": GOOD}, {"good": "good_plugin"})
    result = zoo("-p", "no:good", "plugins", "--json")
    good = next(p for p in __import__("json").loads(result.stdout) if p["name"] == "good")
    assert good["status"] == "blocked" and good["error"] == "blocked by -p no:good"


def test_autoload_can_be_turned_off(zoo):
    zoo.install("flexzoo-plugin-good", "1.2.0", {"good_plugin": GOOD}, {"good": "good_plugin"})
    plugins = {p["name"]: p for p in zoo.json("plugins", env={"FLEXZOO_DISABLE_PLUGIN_AUTOLOAD": "1"})}
    assert plugins["good"]["status"] == "blocked" and plugins["builtin"]["status"] == "loaded"


def test_only_listed_plugins_load(zoo):
    zoo.install("flexzoo-plugin-good", "1.2.0", {"good_plugin": GOOD}, {"good": "good_plugin"})
    zoo.install("flexzoo-plugin-other", "1.0", {"other_plugin": GOOD}, {"other": "other_plugin"})
    plugins = {p["name"]: p["status"] for p in zoo.json("plugins", env={"FLEXZOO_PLUGINS": "good"})}
    assert plugins.pop("builtin") == "loaded" and plugins.pop("good") == "loaded"
    assert set(plugins.values()) == {"blocked"} and "other" in plugins


def test_listed_plugins_load_with_autoload_off(zoo):
    zoo.install("flexzoo-plugin-good", "1.2.0", {"good_plugin": GOOD}, {"good": "good_plugin"})
    zoo.install("flexzoo-plugin-other", "1.0", {"other_plugin": GOOD}, {"other": "other_plugin"})
    env = {"FLEXZOO_DISABLE_PLUGIN_AUTOLOAD": "1", "FLEXZOO_PLUGINS": "good"}
    plugins = {p["name"]: p for p in zoo.json("plugins", env=env)}
    assert plugins["good"]["status"] == "loaded" and plugins["builtin"]["status"] == "loaded"
    assert plugins["other"]["error"] == "autoload disabled by FLEXZOO_DISABLE_PLUGIN_AUTOLOAD"


def test_discovery_order_does_not_depend_on_install_order(zoo):
    zoo.install("flexzoo-plugin-zeta", "1.0", {"zeta_plugin": GOOD}, {"zeta": "zeta_plugin"})
    zoo.install("flexzoo-plugin-alpha", "1.0", {"alpha_plugin": GOOD}, {"alpha": "alpha_plugin"})
    names = [p["name"] for p in zoo.json("plugins")]
    assert names == sorted(names)
    assert [n for n in names if n in ("alpha", "builtin", "zeta")] == ["alpha", "builtin", "zeta"]


def test_entry_point_cache_sees_a_newly_installed_plugin(zoo):
    assert "good" not in by_name(zoo)  # this run writes the cache
    assert any(zoo.site.parent.joinpath("cache").glob("installed-*.json"))
    zoo.install("flexzoo-plugin-good", "1.2.0", {"good_plugin": GOOD}, {"good": "good_plugin"})
    assert by_name(zoo)["good"]["status"] == "loaded"  # the site directory changed: the cache key too


def test_entry_point_cache_forgets_a_removed_plugin_and_sees_an_upgraded_one(zoo):
    import shutil

    zoo.install("flexzoo-plugin-good", "1.2.0", {"good_plugin": GOOD}, {"good": "good_plugin"})
    assert by_name(zoo)["good"]["version"] == "1.2.0"
    assert by_name(zoo)["good"]["version"] == "1.2.0"  # from the cache
    shutil.rmtree(zoo.site / "flexzoo_plugin_good-1.2.0.dist-info")  # as pip uninstalls, then installs 1.3.0
    zoo.install("flexzoo-plugin-good", "1.3.0", {"good_plugin": GOOD}, {"good": "good_plugin"})
    assert by_name(zoo)["good"]["version"] == "1.3.0"
    shutil.rmtree(zoo.site / "flexzoo_plugin_good-1.3.0.dist-info")
    (zoo.site / "good_plugin.py").unlink()
    assert "good" not in by_name(zoo)


def test_cached_and_uncached_discovery_agree(zoo):
    zoo.install("flexzoo-plugin-good", "1.2.0", {"good_plugin": GOOD}, {"good": "good_plugin"})
    zoo.install("flexzoo-plugin-future", "5.0", {"future_plugin": GOOD}, {"future": "future_plugin"})
    first, cached = zoo.json("plugins"), zoo.json("plugins")
    uncached = zoo.json("plugins", env={"FLEXZOO_NO_CACHE": "1"})

    def stable(plugins):
        return [{k: v for k, v in p.items() if not k.endswith("_seconds")} for p in plugins]

    assert stable(first) == stable(cached) == stable(uncached)


def test_installed_versions_are_cached_until_the_installed_distributions_change(tmp_path, monkeypatch):
    import shutil
    import time

    from flexzoo.plugin import installed
    from flexzoo.testing.distributions import make_distribution

    site = tmp_path / "site"
    make_distribution(site, "acme-lib", "1.0", {}, {})
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("FLEXZOO_CACHE_DIR", str(tmp_path / "cache"))
    assert installed.version("acme-lib") == "1.0"
    [cache] = (tmp_path / "cache").glob("installed-*.json")
    assert json.loads(cache.read_text())["answers"]["version:acme-lib"] == "1.0"
    time.sleep(0.05)  # the file system's clock is coarse: let the change land on a later tick, as pip's would
    shutil.rmtree(site / "acme_lib-1.0.dist-info")
    make_distribution(site, "acme-lib", "2.0", {}, {})
    assert installed.version("acme-lib") == "2.0"
    time.sleep(0.05)
    shutil.rmtree(site / "acme_lib-2.0.dist-info")
    assert installed.version("acme-lib") is None


def listed(zoo, *args: str) -> set[str]:
    return {c["qualified_name"] for c in zoo.json("list", *args)}


def test_zoo_list_from_its_kept_listing_sees_installs_removals_and_edits(zoo):
    import shutil
    import time

    zoo.install("flexzoo-plugin-good", "1.2.0", {"good_plugin": GOOD}, {"good": "good_plugin"})
    assert "good:wide" in listed(zoo, "backbones")  # made from the registry, and kept
    assert any(zoo.site.parent.joinpath("cache").glob("listing-*.json"))
    assert "good:wide" in listed(zoo, "backbones")  # the kept listing
    time.sleep(0.05)  # the file system's clock is coarse: let each change land on a later tick, as an edit's would
    edited = GOOD.replace('[flexzoo.Component("wide", wide)]', '[flexzoo.Component("wide", wide), '
                          'flexzoo.Component("wider", wide)]')
    (zoo.site / "good_plugin.py").write_text(edited)  # an editable install's source changes in place
    assert {"good:wide", "good:wider"} <= listed(zoo, "backbones")
    time.sleep(0.05)
    shutil.rmtree(zoo.site / "flexzoo_plugin_good-1.2.0.dist-info")
    assert not {name for name in listed(zoo) if name.startswith("good:")}
    env = {"FLEXZOO_DISABLE_PLUGIN_AUTOLOAD": "1"}  # the environment that chooses plugins is part of the key
    assert {c["plugin"] for c in zoo.json("list", env=env)} == {"builtin"}


def test_a_plugin_that_fails_is_reported_on_every_listing(zoo):
    zoo.install("flexzoo-plugin-broken", "0.3.0", {"broken_plugin": "raise RuntimeError('boom at import')"},
                {"broken": "broken_plugin"})
    for _ in range(2):  # a listing with a failed plugin is not kept: the next run loads it again
        result = zoo("list", "heads")
        assert result.returncode == 0 and "1 plugin(s) failed to load (broken)" in result.stderr
    assert not any(zoo.site.parent.joinpath("cache").glob("listing-*.json"))


def test_installed_answers_survive_writes_that_install_nothing(tmp_path, monkeypatch):
    """A file written into a ``sys.path`` folder (``python -m flexzoo`` puts the working directory there, and a
    build writes into it) changes the folder's time but no distribution: the answers are kept, in the same file."""
    import time

    from flexzoo.plugin import installed
    from flexzoo.testing.distributions import make_distribution

    site = tmp_path / "site"
    make_distribution(site, "acme-lib", "1.0", {}, {})
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("FLEXZOO_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(installed, "_answers", None)
    asked = []

    def answer():
        asked.append(1)
        return "answered"

    assert installed.cached("question", answer) == "answered"
    time.sleep(0.05)  # a later tick of the file system's clock
    (site / "out.safetensors").write_bytes(b"not a distribution")
    monkeypatch.setattr(installed, "_answers", None)  # as a new process would
    assert installed.cached("question", answer) == "answered"
    assert len(asked) == 1
    assert len(list((tmp_path / "cache").glob("installed-*.json"))) == 1
    time.sleep(0.05)
    make_distribution(site, "acme-tool", "1.0", {}, {})  # an install: asked again
    monkeypatch.setattr(installed, "_answers", None)
    assert installed.cached("question", answer) == "answered"
    assert len(asked) == 2
