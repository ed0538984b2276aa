"""A listing plugin's list stays true to the installed release: shipped when it names it, else listed once and cached.

The plugin here is a real distribution on a temporary path whose shipped list names timm 0.0.1, so the
installed timm is "another release" without installing anything.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from flexzoo.plugin.helpers import Listing, ShippedList
from flexzoo.plugin.shipped_list import listing_cache_directory

PLUGIN = """
import functools

from flexzoo.plugin import Component, hookimpl
from flexzoo_plugin_stale_list import MODELS

FLEXZOO_PLUGIN_API = 2


def backbone(name: str, width: int = 8):
    \"\"\"Listed, never built here.\"\"\"
    raise RuntimeError("not built in this test")


@hookimpl
def flexzoo_backbones():
    return [Component(name, functools.partial(backbone, name)) for name in MODELS.listing().names]
"""

LIST_MODULE = """
import sys
from pathlib import Path

from flexzoo.plugin.helpers import Listing, ShippedList


def _installed(shipped):
    import timm

    return Listing(timm.__version__, tuple(timm.list_models("resnet1*")))


MODELS = ShippedList("timm", Path(__file__).with_name("stale.json"), "flexzoo_plugin_stale_list", _installed)

if __name__ == "__main__":
    sys.exit(MODELS.main())
"""

LIST_AND_REPORT_IMPORTS = """
import sys
from flexzoo.cli import main
status = main(sys.argv[1:])
print("HEAVY=" + ",".join(sorted(m for m in ("torch", "timm") if m in sys.modules)), file=sys.stderr)
sys.exit(status)
"""

NOTICE = "were listed once into"


@pytest.fixture
def stale(zoo):
    zoo.install("flexzoo-plugin-stale", "1.0", {"flexzoo_plugin_stale": PLUGIN,
                                                "flexzoo_plugin_stale_list": LIST_MODULE},
                {"stale": "flexzoo_plugin_stale"})
    (zoo.site / "stale.json").write_text(json.dumps({"library": "timm", "version": "0.0.1",
                                                     "names": ["retired_net"]}))
    return zoo


def list_stale(zoo, env=None) -> tuple[set[str], str]:
    result = subprocess.run([sys.executable, "-c", LIST_AND_REPORT_IMPORTS, "list", "backbones", "stale:*", "--json"],
                            capture_output=True, text=True, env={**zoo.env, **(env or {})}, timeout=300)
    assert result.returncode == 0, result.stderr
    return {c["qualified_name"] for c in json.loads(result.stdout)}, result.stderr


def cache_files(zoo) -> list[Path]:
    return sorted((Path(zoo.env["FLEXZOO_CACHE_DIR"]) / "listings").glob("flexzoo_plugin_stale_list--*.json"))


def installed_resnets() -> set[str]:
    import timm

    return {f"stale:{name}" for name in timm.list_models("resnet1*")}


def test_another_release_is_listed_once_then_read_from_the_cache_without_torch(stale):
    listed, stderr = list_stale(stale)
    assert listed == installed_resnets()
    assert NOTICE in stderr and "timm 0.0.1" in stderr
    assert "HEAVY=\n" in stderr  # the library was imported by the subprocess that listed it, not by zoo list
    [cache] = cache_files(stale)
    made = cache.stat().st_mtime_ns

    listed_again, stderr_again = list_stale(stale)
    assert listed_again == listed
    assert NOTICE not in stderr_again and "HEAVY=\n" in stderr_again
    assert cache.stat().st_mtime_ns == made


def test_a_corrupt_cache_file_is_ignored_and_rewritten(stale):
    list_stale(stale)
    [cache] = cache_files(stale)
    cache.write_text('{"names": [1, 2')
    listed, stderr = list_stale(stale)
    assert listed == installed_resnets()
    assert NOTICE in stderr
    assert {f"stale:{name}" for name in json.loads(cache.read_text())["names"]} == listed


def test_a_cache_that_cannot_be_written_falls_back_to_the_shipped_list_with_one_warning(stale, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    listed, stderr = list_stale(stale, env={"FLEXZOO_CACHE_DIR": str(blocker / "cache")})
    assert listed == {"stale:retired_net"}
    assert stderr.count("timm 0.0.1 offers") == 1 and "cannot be written" in stderr
    assert NOTICE not in stderr


def write_list(path: Path, version: str, names: tuple[str, ...]) -> Path:
    path.write_text(Listing(version, names).to_json("timm"))
    return path


def test_the_shipped_list_of_the_installed_release_is_used_as_it_is(tmp_path, monkeypatch):
    import timm

    monkeypatch.setenv("FLEXZOO_CACHE_DIR", str(tmp_path / "cache"))
    path = write_list(tmp_path / "list.json", timm.__version__, ("curated_a", "curated_b"))
    shipped = ShippedList("timm", path, "no_such_module_for_listing", lambda shipped: shipped)
    assert shipped.listing().names == ("curated_a", "curated_b")
    assert not listing_cache_directory().exists()  # nothing listed, nothing cached


def test_a_library_that_cannot_be_listed_falls_back_to_the_shipped_list(tmp_path, monkeypatch):
    monkeypatch.setenv("FLEXZOO_CACHE_DIR", str(tmp_path / "cache"))
    path = write_list(tmp_path / "list.json", "0.0.1", ("retired_net",))
    shipped = ShippedList("timm", path, "no_such_module_for_listing", lambda shipped: shipped)
    with pytest.warns(UserWarning, match=r"timm 0\.0\.1 offers.*listing it failed.*no_such_module_for_listing"):
        assert shipped.listing().names == ("retired_net",)
    assert not list(listing_cache_directory().glob("*.json"))


def test_the_maintainers_command_checks_prints_and_rewrites_the_shipped_list(tmp_path, capsys):
    path = write_list(tmp_path / "list.json", "0.0.1", ("retired_net",))
    current = Listing("9.9.9", ("net_a", "net_b"))
    shipped = ShippedList("timm", path, "flexzoo_plugin_x.model_list", lambda shipped: current)

    assert shipped.main([]) == 1
    assert "python -m flexzoo_plugin_x.model_list --write" in capsys.readouterr().err
    assert shipped.main(["--json"]) == 0
    assert Listing.from_json(capsys.readouterr().out) == current
    assert shipped.main(["--write"]) == 0
    assert shipped.read() == current
    capsys.readouterr()
    assert shipped.main([]) == 0
    assert "up to date" in capsys.readouterr().out
