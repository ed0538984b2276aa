"""The shipped list of torchvision classification architectures (``models.json``): ``zoo list`` without torch.

``torchvision.models.list_models(module=torchvision.models)``: the classification builders (detection,
segmentation, video and optical-flow models live in submodules and are not listed). Kept true to the
installed torchvision by the plugin's tests; regenerate it after changing the torchvision requirement::

    python -m flexzoo_plugin_torchvision.model_list --write
"""

from __future__ import annotations

import sys
from pathlib import Path

from flexzoo.plugin.helpers import Listing, ShippedList, release


def _installed(shipped: Listing) -> Listing:
    import torchvision

    return Listing(release(torchvision.__version__),
                   tuple(torchvision.models.list_models(module=torchvision.models)))


MODELS = ShippedList("torchvision", Path(__file__).with_name("models.json"), "flexzoo_plugin_torchvision.model_list",
                     _installed)

if __name__ == "__main__":
    sys.exit(MODELS.main())
