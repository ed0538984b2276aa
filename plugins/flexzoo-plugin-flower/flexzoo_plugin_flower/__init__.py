"""flexzoo federated training on Flower: the ``fedavg`` strategy (cheap to import: no torch, no flwr here)."""

from __future__ import annotations

from flexzoo.plugin import Component, hookimpl
from flexzoo_plugin_flower.factories import fedavg

FLEXZOO_PLUGIN_API = 2


@hookimpl
def flexzoo_strategies() -> list[Component]:
    return [Component("fedavg", fedavg)]
