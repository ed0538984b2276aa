"""What a federated run is told: its ``[distributed]`` keys, and the environment a client is started with.

Read by the strategy (which starts the server or a client), the server and the client alike, so it
imports neither of them.
"""

from __future__ import annotations

from dataclasses import dataclass

CLIENT_ENV = "FLEXZOO_FEDERATED_CLIENT"
SERVER_ENV = "FLEXZOO_FEDERATED_SERVER"


@dataclass(frozen=True)
class Settings:
    """The ``[distributed]`` keys of a federated run (see :func:`flexzoo_plugin_flower.factories.fedavg`)."""

    clients: int
    rounds: int
    partitions: str
    alpha: float
    local_epochs: int
    proximal_mu: float
    timeout_s: float

    @property
    def algorithm(self) -> str:
        return "fedprox" if self.proximal_mu > 0 else "fedavg"
