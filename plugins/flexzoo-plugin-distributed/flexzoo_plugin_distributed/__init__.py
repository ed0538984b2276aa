"""flexzoo strategies on torch.distributed: ``ddp``, ``fsdp`` and ``zero`` (cheap to import: no torch here)."""

from __future__ import annotations

from flexzoo.plugin import Component, hookimpl
from flexzoo_plugin_distributed.factories import ddp, fsdp, zero

FLEXZOO_PLUGIN_API = 2


@hookimpl
def flexzoo_strategies() -> list[Component]:
    return [Component("ddp", ddp), Component("fsdp", fsdp), Component("zero", zero)]
