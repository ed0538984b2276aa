"""The shipped list of timm architectures (``models.json``) that lets ``zoo list`` run without importing timm.

Kept true to the installed timm by the plugin's tests; regenerate it after changing the timm requirement::

    python -m flexzoo_plugin_timm.model_list --write
"""

from __future__ import annotations

import sys
from pathlib import Path

from flexzoo.plugin.helpers import Listing, ShippedList


def _installed(shipped: Listing) -> Listing:
    import timm

    return Listing(timm.__version__, tuple(timm.list_models()))


MODELS = ShippedList("timm", Path(__file__).with_name("models.json"), "flexzoo_plugin_timm.model_list", _installed)

if __name__ == "__main__":
    sys.exit(MODELS.main())
