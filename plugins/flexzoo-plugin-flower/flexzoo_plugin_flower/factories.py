"""The ``fedavg`` factory: its parameters are the ``[distributed]`` keys (torch and flwr load when it is called)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from flexzoo.plugin import ParameterError

if TYPE_CHECKING:
    from flexzoo_plugin_flower.strategy import Federated


def fedavg(clients: int = 4, rounds: int = 10, partitions: Literal["iid", "dirichlet"] = "iid", alpha: float = 0.5,
           local_epochs: int = 1, proximal_mu: float = 0.0, timeout_s: float = 300.0) -> Federated:
    """Federated averaging on Flower: client processes train on their own part of the data; only weights travel.

    ``zoo train`` starts a Flower server in its own process and ``clients`` client processes on
    127.0.0.1; each round every client trains the global model for ``local_epochs`` on its partition
    and sends its weights back, and the server averages them (weighted by partition size) and
    validates the result. The artifact records the federation: rounds, clients, partition sizes and
    the accuracy of every round.

    Args:
        clients: number of client processes, each with its own partition of the [train] data.
        rounds: federated rounds (each: local training on every client, then one aggregation).
        partitions: iid (a seeded shuffle split evenly) or dirichlet (non-IID: each class is spread
            over the clients by proportions drawn from Dirichlet(alpha), seeded by [model] seed).
        alpha: concentration of the dirichlet partitions; smaller is more skewed (0.5 is a common
            non-IID setting, 100 is close to iid).
        local_epochs: epochs each client trains per round.
        proximal_mu: FedProx's proximal term mu/2 * ||w - w_global||^2 in the clients' loss; 0 is FedAvg.
        timeout_s: how long the server waits for clients to connect or to finish a round, and a client
            for the server, before the run fails with a message.
    """
    for name, value in (("clients", clients), ("rounds", rounds), ("local_epochs", local_epochs)):
        if value < 1:
            raise ParameterError(name, f"must be at least 1, got {value}")
    if alpha <= 0:
        raise ParameterError("alpha", f"must be positive, got {alpha}")
    if proximal_mu < 0:
        raise ParameterError("proximal_mu", f"must be 0 (FedAvg) or positive (FedProx), got {proximal_mu}")
    if timeout_s <= 0:
        raise ParameterError("timeout_s", f"must be positive, got {timeout_s}")
    from flexzoo_plugin_flower.settings import Settings
    from flexzoo_plugin_flower.strategy import Federated

    return Federated(settings=Settings(clients=clients, rounds=rounds, partitions=partitions, alpha=alpha,
                              local_epochs=local_epochs, proximal_mu=proximal_mu, timeout_s=timeout_s))
