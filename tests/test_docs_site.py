"""The documentation site builds strictly, and its generated references cover the code they describe."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from flexzoo.manifest import sections

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import docs_reference  # noqa: E402


def test_the_site_builds_strictly(tmp_path):
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                          cwd=ROOT, capture_output=True, text=True, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
                          timeout=300)
    assert done.returncode == 0, done.stderr
    manifest = (tmp_path / "site" / "reference" / "manifest.html").read_text()
    assert "early_stopping" in manifest and "checkpoint_every" in manifest
    assert "zoo serve" in (tmp_path / "site" / "reference" / "cli.html").read_text()


def test_every_key_option_and_public_name_has_a_description():
    assert docs_reference.missing_descriptions() == []


def test_the_manifest_reference_lists_every_key_validation_accepts():
    tables = [value for module in docs_reference.KEY_TABLE_MODULES for value in vars(module).values()
              if isinstance(value, sections.KeyTable)]
    covered = {id(table) for table in docs_reference.KEY_TABLES.values()}
    assert [t for t in tables if id(t) not in covered] == [], "a key table is missing from docs_reference.KEY_TABLES"
    page = docs_reference.manifest_reference()
    for path, table in docs_reference.KEY_TABLES.items():
        section = page.split(f"### `[{path}]`", 1)[1].split("\n### ", 1)[0]
        for name in table:
            assert f"| `{name}` |" in section, f"[{path}] {name} is not in the manifest reference"
        for name in table.nested:
            assert f"[{path}.{name}]" in section, f"[{path}.{name}] is not in the manifest reference"
    from flexzoo.manifest.validation import SECTIONS

    for name in SECTIONS:
        assert f"`[{name}]`" in page


def test_every_cli_verb_and_option_is_in_the_cli_reference():
    page = docs_reference.cli_reference()
    parser = docs_reference.cli_parser()
    for verb, sub in docs_reference._verbs(parser).items():
        section = page.split(f"## `zoo {verb}`", 1)[1].split("\n## ", 1)[0]
        for action in docs_reference._options(sub):
            for option in action.option_strings:
                assert f"`{option}`" in section, f"zoo {verb} {option} is not in the CLI reference"
