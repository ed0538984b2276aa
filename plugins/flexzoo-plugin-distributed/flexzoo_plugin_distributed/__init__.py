"""flexzoo strategies on torch.distributed: ``ddp`` and ``fsdp`` (cheap to import: no torch here)."""

from __future__ import annotations

from flexzoo.plugin import Component, hookimpl
from flexzoo_plugin_distributed.factories import ddp, fsdp

FLEXZOO_PLUGIN_API = 2


@hookimpl
def flexzoo_strategies() -> list[Component]:
    return [Component("ddp", ddp), Component("fsdp", fsdp)]
