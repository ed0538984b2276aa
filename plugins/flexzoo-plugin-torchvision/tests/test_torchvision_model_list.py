"""The static model list: true to the installed torchvision, and what lets listing skip torch."""

from __future__ import annotations

import json
import subprocess
import sys

from flexzoo_plugin_torchvision.model_list import MODELS

LIST_AND_REPORT_IMPORTS = """
import sys
from flexzoo.cli import main
status = main(sys.argv[1:])
print("HEAVY=" + ",".join(sorted(m for m in ("torch", "torchvision") if m in sys.modules)), file=sys.stderr)
sys.exit(status)
"""


def test_the_listing_is_the_installed_torchvision_list():
    # The shipped list when it names the installed release, else the one listed once into the cache: true either way.
    assert MODELS.listing() == MODELS.installed(), f"run `{MODELS.regenerate}`"


def test_zoo_list_shows_torchvision_backbones_without_importing_torch():
    result = subprocess.run([sys.executable, "-c", LIST_AND_REPORT_IMPORTS, "list", "backbones", "torchvision:*",
                             "--json"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "HEAVY=\n" in result.stderr
    listed = {c["qualified_name"] for c in json.loads(result.stdout)}
    assert listed == {f"torchvision:{name}" for name in MODELS.listing().names}
    assert {"torchvision:resnet18", "torchvision:vit_b_16", "torchvision:regnet_y_400mf"} <= listed
