"""flexzoo-plugin-timm: every timm architecture as a flexzoo backbone (``timm:<model name>``).

Registration reads the architecture names from ``models.json``, a list generated from the timm
release this plugin depends on, so ``zoo list`` imports neither timm nor torch.
"""

from __future__ import annotations

import functools
from typing import Any

from flexzoo.plugin import Component, PretrainedSource, hookimpl
from flexzoo_plugin_timm.backbone import backbone
from flexzoo_plugin_timm.model_list import MODELS

FLEXZOO_PLUGIN_API = 2


@hookimpl
def flexzoo_backbones() -> list[Component]:
    models = MODELS.listing()
    return [Component(name, functools.partial(backbone, name), summary=f"timm {name} ({models.version})")
            for name in models.names]


@hookimpl
def flexzoo_pretrained_source(component: str, reference: Any) -> PretrainedSource | None:
    from flexzoo_plugin_timm.sources import pretrained_source

    return pretrained_source(component, reference)
