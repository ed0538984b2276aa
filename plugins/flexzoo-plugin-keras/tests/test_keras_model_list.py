"""The static list of applications: true to the installed keras, and what lets listing skip torch and keras."""

from __future__ import annotations

import json
import subprocess
import sys

from flexzoo_plugin_keras.model_list import APPLICATIONS

LIST_AND_REPORT_IMPORTS = """
import sys
from flexzoo.cli import main
status = main(sys.argv[1:])
print("HEAVY=" + ",".join(sorted(m for m in ("torch", "keras") if m in sys.modules)), file=sys.stderr)
sys.exit(status)
"""


def test_the_listing_is_the_installed_keras_list():
    # The shipped list when it names the installed release, else the one listed once into the cache: true either way.
    assert APPLICATIONS.listing() == APPLICATIONS.installed(), f"run `{APPLICATIONS.regenerate}`"


def test_zoo_list_shows_keras_backbones_without_importing_torch():
    result = subprocess.run([sys.executable, "-c", LIST_AND_REPORT_IMPORTS, "list", "backbones", "keras:*", "--json"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "HEAVY=\n" in result.stderr
    listed = {c["qualified_name"] for c in json.loads(result.stdout)}
    assert {"keras:sequential", "keras:ResNet50", "keras:MobileNetV3Small"} <= listed
    assert len(listed) == len(APPLICATIONS.listing().names) + 1
