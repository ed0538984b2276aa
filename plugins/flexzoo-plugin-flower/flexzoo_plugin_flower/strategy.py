"""The ``fedavg`` strategy: this process is the Flower server, or (started by it) one of its clients.

The server is the process ``zoo train`` runs in: it starts ``clients`` more runs of the same command
with ``FLEXZOO_FEDERATED_CLIENT`` and ``FLEXZOO_FEDERATED_SERVER`` set; those build the same model
and data, take their own partition and join the server. Every process draws the same partitions
from the ``[model] seed``, so only weights cross between them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from flexzoo.plugin import LocalTraining, SingleProcess
from flexzoo_plugin_flower.partitions import partition
from flexzoo_plugin_flower.settings import CLIENT_ENV, SERVER_ENV, Settings

if TYPE_CHECKING:
    from torch import nn

@dataclass
class Federated(SingleProcess):
    """Runs the whole fit through ``federate``: rank 0 is the server (it writes the artifact), rank k + 1 client k.

    ``world_size`` stays 1: no process shares a batch with another (the federation is recorded apart).
    """

    settings: Settings = field(default_factory=lambda: Settings(4, 10, "iid", 0.5, 1, 0.0, 300.0))
    client: int | None = None
    server_address: str = ""

    def setup(self) -> None:
        """Read this process's role from the environment the server gave it (none: this is the server)."""
        client = os.environ.get(CLIENT_ENV)
        if client is not None:
            self.client, self.server_address = int(client), os.environ.get(SERVER_ENV, "")
            self.rank = self.local_rank = self.client + 1

    def partitions(self, local: LocalTraining) -> list[Any]:
        settings = self.settings
        return partition(local.labels(), local.train_samples, settings.clients, settings.partitions,
                         settings.alpha, local.seed)

    def federate(self, model: nn.Module, local: LocalTraining) -> dict[str, Any] | None:
        """Serve (and return the federation's record, the averaged weights in ``model``) or take part as a client."""
        parts = self.partitions(local)
        if self.client is None:
            from flexzoo_plugin_flower.server import serve

            return serve(model, local, parts, self.settings)
        from flexzoo_plugin_flower.client import join

        join(model, local, parts[self.client], self.settings, self.client, self.server_address)
        return None
