"""One client process: train the server's weights on this client's partition, send them back; nothing else leaves."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import torch
from flwr.client import NumPyClient
from flwr.compat.client.app import start_client
from torch import nn

from flexzoo.plugin import FlexzooError, LocalTraining
from flexzoo_plugin_flower.server import quiet_flower
from flexzoo_plugin_flower.settings import Settings
from flexzoo_plugin_flower.weights import arrays_of, load_arrays


class PartitionClient(NumPyClient):
    """Flower's view of this client: ``fit`` is one round of local training through the host's own loop."""

    def __init__(self, model: nn.Module, local: LocalTraining, part: np.ndarray, settings: Settings) -> None:
        self.model, self.local, self.part, self.settings = model, local, part, settings
        self.rounds = 0

    def get_parameters(self, config: dict[str, Any]) -> list[np.ndarray]:
        return arrays_of(self.model)

    def fit(self, parameters: list[np.ndarray], config: dict[str, Any]) -> tuple[list[np.ndarray], int, dict]:
        load_arrays(self.model, parameters)
        hooks = self._proximal_term() if self.settings.proximal_mu > 0 else []
        try:
            metrics = self.local.train(self.model, self.part, int(config["local_epochs"]), int(config["round"]))
        finally:
            for hook in hooks:
                hook.remove()
        self.rounds += 1
        return arrays_of(self.model), len(self.part), metrics

    def _proximal_term(self) -> list[Any]:
        """FedProx: the gradient of mu/2 * ||w - w_global||^2, mu * (w - w_global), added to each parameter's."""
        mu = self.settings.proximal_mu
        hooks = []
        for parameter in self.model.parameters():
            anchor = parameter.detach().clone()
            hooks.append(parameter.register_hook(
                lambda grad, parameter=parameter, anchor=anchor: grad + mu * (parameter.detach() - anchor)))
        return hooks


def join(model: nn.Module, local: LocalTraining, part: np.ndarray, settings: Settings, client: int,
         address: str) -> None:
    """Serve the server at ``address`` until it ends the run; a lost or absent server is one clear error."""
    quiet_flower()
    torch.set_num_threads(1)  # the clients share this machine with each other and the server
    flower_client = PartitionClient(model, local, part, settings)
    # grpc's own threads (the channel-state monitor) raise too when the server goes; the main thread reports
    # that once, below, so theirs are not printed as tracebacks
    threading.excepthook = _quiet_grpc_threads(threading.excepthook)
    try:
        start_client(server_address=address, client=flower_client.to_client(), insecure=True,
                     max_wait_time=settings.timeout_s)
    except Exception as exc:  # grpc's errors have no public base class; any of them means the server is gone
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise FlexzooError(f"federated client {client}: lost the server at {address} after {flower_client.rounds} "
                           f"round(s) ({type(exc).__name__}: {first[:200]}); the server process has stopped") from None
    if flower_client.rounds < settings.rounds:
        raise FlexzooError(f"federated client {client}: the server at {address} ended the connection after "
                           f"{flower_client.rounds} of {settings.rounds} round(s)")


def _quiet_grpc_threads(previous: Any) -> Any:
    """A thread exception hook that leaves out exceptions raised in grpc's threads, and passes the others on."""

    def hook(args: Any) -> None:
        frames = args.exc_traceback
        while frames is not None and frames.tb_next is not None:
            frames = frames.tb_next
        module = frames.tb_frame.f_globals.get("__name__", "") if frames is not None else ""
        if not module.startswith("grpc"):
            previous(args)

    return hook
