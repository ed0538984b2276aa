"""docs/plugins.md stays in step with the code it documents."""

from __future__ import annotations

import sys
from pathlib import Path

from flexzoo._version import PLUGIN_API_VERSION
from flexzoo.host import discovery

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
from hookspec_reference import current_section, render

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "plugins.md"


def test_the_hook_reference_is_generated_from_the_current_hookspecs():
    assert current_section(GUIDE.read_text()) == render(), \
        "the hook reference is stale: run `python tools/hookspec_reference.py docs/plugins.md`"


def test_the_guide_names_the_real_switches():
    text = GUIDE.read_text()
    for name in (discovery.DISABLE_AUTOLOAD_ENV, discovery.ONLY_PLUGINS_ENV, "FLEXZOO_BLOCK_PLUGINS",
                 f"{discovery.API_KEYWORD_PREFIX}{PLUGIN_API_VERSION}", "--trace-plugins", "zoo new-plugin",
                 "zoo index --check"):
        assert name in text, f"docs/plugins.md does not mention {name}"


README = Path(__file__).resolve().parents[1] / "README.md"


def test_every_whole_manifest_in_the_readme_validates(tmp_path):
    from flexzoo.manifest.validation import load_manifest

    blocks = [block.split("```", 1)[0] for block in README.read_text().split("```toml\n")[1:]]
    manifests = [block for block in blocks if block.lstrip().startswith("[model]") and "[heads." in block]
    assert manifests, "the README's one example is a whole manifest"
    for index, text in enumerate(manifests):
        path = tmp_path / f"readme-{index}.toml"
        path.write_text(text)
        load_manifest(path)  # raises ManifestError, naming the key, for a snippet that went stale


def test_the_whole_plugin_api_table_is_generated_from_flexzoo_plugin_all():
    from plugin_api_table import current_section as api_section
    from plugin_api_table import render as api_table

    import flexzoo.plugin

    assert api_section(GUIDE.read_text()) == api_table(), \
        "the plugin API table is stale: run `python tools/plugin_api_table.py docs/plugins.md`"
    assert all(f"| `{name}` |" in api_table() for name in flexzoo.plugin.__all__)


def test_the_guide_and_the_scaffold_state_this_flexzoo_version():
    from flexzoo._version import __version__
    from flexzoo.scaffold import render as scaffold

    major, minor = __version__.split(".")[:2]
    assert f"flexzoo {major}.{minor} implements plugin API {PLUGIN_API_VERSION}" in GUIDE.read_text()
    requirement = f"flexzoo>={major}.{minor},<{major}.{int(minor) + 1}"
    assert requirement in GUIDE.read_text() and requirement in scaffold("acme", ["backbone"])["pyproject.toml"]


def test_the_readme_links_to_pages_that_exist():
    import re

    targets = re.findall(r"\]\(((?:docs|examples)/[^)#]+|CHANGELOG\.md)", README.read_text())
    assert len(targets) >= 8
    missing = [target for target in targets if not (README.parent / target).is_file()]
    assert missing == []


def test_the_architecture_page_names_every_package_and_module_of_core():
    """The tree alone tells where a thing lives: every entry of core/flexzoo has its line on the page."""
    import re

    core = Path(__file__).resolve().parents[1] / "core" / "flexzoo"
    page = (GUIDE.parent / "explanation" / "architecture.md").read_text()
    named = set(re.findall(r"`([a-z_]+(?:/|\.py))`", page))
    entries = {f"{p.name}/" for p in core.iterdir() if (p / "__init__.py").is_file()} | \
        {p.name for p in core.glob("*.py") if p.name not in ("__init__.py", "__main__.py")}
    assert sorted(entries - named) == [], "docs/explanation/architecture.md: add a line for each of these"
