"""flexzoo-plugin-transformers: Hugging Face transformers encoders as flexzoo backbones (``transformers:<model type>``).

Registration reads the model types from ``models.json`` (type and input kind, checked against the
transformers release this plugin depends on), so ``zoo list`` imports neither transformers nor torch.
"""

from __future__ import annotations

import functools
from typing import Any

from flexzoo.plugin import Component, PretrainedSource, hookimpl
from flexzoo_plugin_transformers.backbone import backbone
from flexzoo_plugin_transformers.model_list import INPUTS, MODELS

FLEXZOO_PLUGIN_API = 2


@hookimpl
def flexzoo_backbones() -> list[Component]:
    models = MODELS.listing()
    return [Component(name, functools.partial(backbone, name),
                      summary=f"transformers {name} encoder, {INPUTS[kind]} ({models.version})")
            for name, kind in models.details.items()]


@hookimpl
def flexzoo_pretrained_source(reference: Any) -> PretrainedSource | None:
    from flexzoo_plugin_transformers.sources import pretrained_source

    return pretrained_source(reference)
