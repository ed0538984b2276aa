"""flexzoo-plugin-torchvision: every torchvision classification architecture as a flexzoo backbone.

Registration reads the architecture names from ``models.json``, a list generated from the
torchvision release this plugin depends on, so ``zoo list`` imports neither torchvision nor torch.
Address them as ``torchvision:<name>`` (``torchvision:resnet18``): timm has many of the same names.
"""

from __future__ import annotations

import functools
from typing import Any

from flexzoo.plugin import Component, PretrainedSource, hookimpl
from flexzoo_plugin_torchvision.backbone import backbone
from flexzoo_plugin_torchvision.model_list import MODELS

FLEXZOO_PLUGIN_API = 2


@hookimpl
def flexzoo_backbones() -> list[Component]:
    models = MODELS.listing()
    return [Component(name, functools.partial(backbone, name),
                      summary=f"torchvision {name} ({models.version}), without its classifier")
            for name in models.names]


@hookimpl
def flexzoo_pretrained_source(component: str, reference: Any) -> PretrainedSource | None:
    from flexzoo_plugin_torchvision.sources import pretrained_source

    return pretrained_source(component, reference)
