"""flexzoo-plugin-keras: Keras 3, on its torch backend, as flexzoo backbones.

``keras:<Application>`` is a ``keras.applications`` architecture without its classifier;
``keras:sequential`` a ``keras.Sequential`` whose layers the manifest lists. Registration reads the
architecture names from ``applications.json``, so ``zoo list`` imports neither keras nor torch.
"""

from __future__ import annotations

import functools

from flexzoo.plugin import Component, hookimpl
from flexzoo_plugin_keras.backbones import application, sequential
from flexzoo_plugin_keras.model_list import APPLICATIONS

FLEXZOO_PLUGIN_API = 2


@hookimpl
def flexzoo_backbones() -> list[Component]:
    models = APPLICATIONS.listing()
    return [Component("sequential", sequential),
            *(Component(name, functools.partial(application, name),
                        summary=f"keras.applications.{name} ({models.version}, torch backend)")
              for name in models.names)]
