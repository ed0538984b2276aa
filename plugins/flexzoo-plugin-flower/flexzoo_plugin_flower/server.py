"""The Flower server in the ``zoo train`` process: starts the client processes, averages, validates each round.

A client process that ends early (killed, or failed with its own message) stops the run with one
message naming it and the others are stopped; so does a round or a connection that outlasts
``timeout_s``. Nothing is left waiting.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import time
from typing import Any

import numpy as np
from flwr.common import ndarrays_to_parameters, parameters_to_ndarrays
from flwr.server import Server
from flwr.server.client_manager import SimpleClientManager
from flwr.server.strategy import FedAvg, FedProx
from flwr.server.superlink.fleet.grpc_bidi.grpc_server import start_grpc_server
from torch import nn

from flexzoo.plugin import FlexzooError, LocalTraining
from flexzoo_plugin_flower.settings import CLIENT_ENV, SERVER_ENV, Settings
from flexzoo_plugin_flower.weights import arrays_of, load_arrays

POLL_S = 0.2
EXIT_GRACE_S = 10.0  # how long clients get to leave after the last round, and a dead one to be reaped


class FederationFailed(Exception):
    """The run cannot go on: a client ended, or a wait outlasted its timeout."""


def quiet_flower() -> None:
    """Flower logs every step at INFO and warns that its gRPC entry points are deprecated: keep errors only."""
    logging.getLogger("flwr").setLevel(logging.ERROR)


class Clients:
    """The client processes: started with their role in the environment, watched, stopped."""

    def __init__(self, command: list[str], address: str, count: int) -> None:
        self.processes = [subprocess.Popen(command, env={**os.environ, CLIENT_ENV: str(k), SERVER_ENV: address})
                          for k in range(count)]

    def check(self, wait_s: float = 0.0) -> None:
        """Raise FederationFailed naming the first client that has ended (waiting ``wait_s`` for one to)."""
        deadline = time.monotonic() + wait_s
        while True:
            for client, process in enumerate(self.processes):
                code = process.poll()
                if code is not None:
                    raise FederationFailed(f"client {client} {_ended(code)} before the federation finished "
                                           "(its own message, if it wrote one, is above)")
            if time.monotonic() >= deadline:
                return
            time.sleep(POLL_S)

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(EXIT_GRACE_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _ended(code: int) -> str:
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with status {code}"


class WatchedClientManager(SimpleClientManager):
    """Waits for clients as Flower's does, but gives up when a client process ends or ``timeout_s`` passes."""

    def __init__(self, timeout_s: float) -> None:
        super().__init__()
        self.timeout_s = timeout_s
        self.clients_started: Clients | None = None

    def wait_for(self, num_clients: int, timeout: int = 86400) -> bool:
        deadline = time.monotonic() + min(timeout, self.timeout_s)
        while True:
            with self._cv:
                if self._cv.wait_for(lambda: len(self.clients) >= num_clients, timeout=POLL_S):
                    return True
            if self.clients_started is not None:
                self.clients_started.check()
            if time.monotonic() >= deadline:
                raise FederationFailed(f"only {len(self.clients)} of {num_clients} clients connected within "
                                       f"{self.timeout_s:g} s (timeout_s)")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class _Rounds:
    """Validates the averaged model after every round and reports it; refuses rounds with failed clients."""

    def __init__(self, model: nn.Module, local: LocalTraining, settings: Settings) -> None:
        self.model, self.local, self.settings = model, local, settings
        self.history: list[dict[str, Any]] = []
        self.initial: dict[str, float] = {}
        self.train_loss = float("nan")
        self.started = time.perf_counter()
        self.clients: Clients | None = None

    def evaluate(self, server_round: int, arrays: list[np.ndarray], config: dict[str, Any]
                 ) -> tuple[float, dict[str, float]]:
        load_arrays(self.model, arrays)
        validation = self.local.evaluate(self.model)
        if server_round == 0:
            self.initial = validation
        else:
            record = {"epoch": server_round, "rounds": self.settings.rounds, "train_loss": self.train_loss,
                      "validation": validation, "seconds": round(time.perf_counter() - self.started, 4)}
            self.history.append(record)
            self.local.round_ended(record)
        self.started = time.perf_counter()
        return float(validation.get("loss", 0.0)), validation

    def fitted(self, server_round: int, results: list[Any], failures: list[Any]) -> None:
        if failures:
            if self.clients is not None:
                self.clients.check(wait_s=EXIT_GRACE_S)
            failure = failures[0]
            reason = failure if isinstance(failure, BaseException) else failure[1].status.message
            raise FederationFailed(f"round {server_round}: {len(failures)} client(s) failed ({reason})")
        sizes = [fit.num_examples for _, fit in results]
        losses = [fit.metrics.get("train_loss", float("nan")) for _, fit in results]
        self.train_loss = float(np.average(losses, weights=sizes))


def _averaging(rounds: _Rounds, settings: Settings, model: nn.Module) -> FedAvg:
    """Flower's FedAvg (FedProx when ``proximal_mu`` > 0): every client, every round, validated on the server."""
    base = FedProx if settings.proximal_mu > 0 else FedAvg

    class Averaging(base):  # type: ignore[misc, valid-type]
        def aggregate_fit(self, server_round: int, results: list[Any], failures: list[Any]) -> Any:
            rounds.fitted(server_round, results, failures)
            return super().aggregate_fit(server_round, results, failures)

    options: dict[str, Any] = {"proximal_mu": settings.proximal_mu} if settings.proximal_mu > 0 else {}
    return Averaging(fraction_fit=1.0, fraction_evaluate=0.0, min_fit_clients=settings.clients,
                     min_evaluate_clients=0, min_available_clients=settings.clients,
                     evaluate_fn=rounds.evaluate, accept_failures=False,
                     on_fit_config_fn=lambda server_round: {"round": server_round,
                                                            "local_epochs": settings.local_epochs},
                     initial_parameters=ndarrays_to_parameters(arrays_of(model)), **options)


def serve(model: nn.Module, local: LocalTraining, parts: list[np.ndarray], settings: Settings) -> dict[str, Any]:
    """Run the federation to its last round; ``model`` ends with the averaged weights. Returns its record."""
    if local.command is None:
        raise FlexzooError("a federated run starts its clients as `zoo train MANIFEST` processes, and this run's "
                           "manifest was not read from a file; write it to a file and run `zoo train` on it")
    quiet_flower()
    rounds = _Rounds(model, local, settings)
    manager = WatchedClientManager(settings.timeout_s)
    server = Server(client_manager=manager, strategy=_averaging(rounds, settings, model))
    address = f"127.0.0.1:{_free_port()}"
    grpc_server = start_grpc_server(client_manager=manager, server_address=address)
    clients = None
    try:
        clients = rounds.clients = manager.clients_started = Clients(local.command, address, settings.clients)
        _, seconds = server.fit(num_rounds=settings.rounds, timeout=settings.timeout_s)
        server.disconnect_all_clients(timeout=settings.timeout_s)  # then stopped below: all they had is here
    except FederationFailed as exc:
        raise FlexzooError(f"federated training failed: {exc}; the other clients were stopped") from None
    finally:
        if clients is not None:
            clients.stop()
        grpc_server.stop(grace=None)
    final = parameters_to_ndarrays(server.parameters)
    load_arrays(model, final)
    return {"history": rounds.history, "federation": {
        "algorithm": settings.algorithm, "framework": "flower", "rounds": settings.rounds,
        "clients": settings.clients, "partitions": settings.partitions,
        "alpha": settings.alpha if settings.partitions == "dirichlet" else None,
        "local_epochs": settings.local_epochs, "proximal_mu": settings.proximal_mu,
        "partition_sizes": [len(part) for part in parts],
        "seconds": round(seconds, 3), "initial_validation": rounds.initial,
        "validation_per_round": [record["validation"] for record in rounds.history]}}
