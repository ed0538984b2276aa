"""docs/plugins.md stays in step with the code it documents."""

from __future__ import annotations

from pathlib import Path

from flexzoo import discovery
from flexzoo._version import PLUGIN_API_VERSION
from flexzoo.hookspec_reference import current_section, render

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "plugins.md"


def test_the_hook_reference_is_generated_from_the_current_hookspecs():
    assert current_section(GUIDE.read_text()) == render(), \
        "the hook reference is stale: run `python -m flexzoo.hookspec_reference docs/plugins.md`"


def test_the_guide_names_the_real_switches():
    text = GUIDE.read_text()
    for name in (discovery.DISABLE_AUTOLOAD_ENV, discovery.ONLY_PLUGINS_ENV, "FLEXZOO_BLOCK_PLUGINS",
                 f"{discovery.API_KEYWORD_PREFIX}{PLUGIN_API_VERSION}", "--trace-plugins", "zoo new-plugin",
                 "zoo index --check"):
        assert name in text, f"docs/plugins.md does not mention {name}"
