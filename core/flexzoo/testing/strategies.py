"""The strategy check: the trainer's own sequence of calls, run in one process on a tiny model.

Each step is one the trainer takes (``flexzoo.plugin.protocols.Strategy`` lists them in order), so a
strategy that passes here does not fail in ``zoo train`` on a missing or misbehaving member.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
from collections.abc import Iterator, Mapping
from typing import Any

from flexzoo.plugin.components import RegisteredComponent
from flexzoo.plugin.protocols import Strategy
from flexzoo.testing.inputs import BATCH, TINY_INPUT, example_arguments, tiny_model

#: The methods the trainer calls, in its order.
METHODS = ("setup", "wrap", "all_reduce", "model_state", "optimizer_state", "load_optimizer_state", "teardown")
#: What the trainer reads after ``setup()``, and their values in one process.
RANKS = {"rank": 0, "world_size": 1, "local_rank": 0}
_FIX = "subclass flexzoo.plugin.SingleProcess, which implements every member, and override only what differs"


@contextlib.contextmanager
def single_process_env() -> Iterator[None]:
    """The environment ``torchrun`` gives a one-process run (unset variables only; restored afterwards)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    wanted = {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "RANK": "0", "WORLD_SIZE": "1",
              "LOCAL_RANK": "0", "LOCAL_WORLD_SIZE": "1"}
    saved = {k: os.environ.get(k) for k in wanted}
    os.environ.update({k: v for k, v in wanted.items() if saved[k] is None})
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)


def check_strategy(entry: RegisteredComponent, example: Mapping[str, Any] | None = None) -> None:
    """The strategy follows :class:`flexzoo.plugin.Strategy` through one short training run in one process.

    setup; rank, world_size and local_rank are the ints 0, 1, 0; wrap; a forward, backward and
    optimizer step; all_reduce; model_state keyed like the unwrapped model; an optimizer_state /
    load_optimizer_state round trip; teardown, leaving no process group behind.
    """
    where = entry.qualified_name
    strategy = entry.component.factory(**example_arguments(entry, example))
    missing = [name for name in METHODS if not callable(getattr(strategy, name, None))]
    assert not missing, f"{where}: the strategy ({type(strategy).__name__}) has no " \
        f"{', '.join(f'{name}()' for name in missing)}, which the trainer calls; {_FIX}"
    with single_process_env():
        strategy.setup()
        try:
            _check_ranks(where, strategy)
            _check_training_step(where, strategy)
        finally:
            strategy.teardown()
    distributed = sys.modules.get("torch.distributed")
    assert not (distributed and distributed.is_available() and distributed.is_initialized()), \
        f"{where}: teardown() left a process group behind; destroy the group setup() made"


def _check_ranks(where: str, strategy: Any) -> None:
    for name, expected in RANKS.items():
        assert hasattr(strategy, name), f"{where}: the strategy ({type(strategy).__name__}) has no `{name}`; " \
            f"the trainer reads rank, world_size and local_rank after setup() (0, 1, 0 in one process); {_FIX}"
        value = getattr(strategy, name)
        assert type(value) is int, f"{where}: `{name}` is {value!r} ({type(value).__name__}); it must be an int"
        assert value == expected, f"{where}: `{name}` is {value} in a one-process run; it must be {expected}"
    assert isinstance(strategy, Strategy), f"{where}: the strategy does not follow flexzoo.plugin.Strategy; {_FIX}"


def _check_training_step(where: str, strategy: Any) -> None:
    import torch

    model = tiny_model()
    expected_keys = {name: tuple(t.shape) for name, t in model.state_dict().items()}
    wrapped = strategy.wrap(model)
    assert isinstance(wrapped, torch.nn.Module), \
        f"{where}: wrap() returned {type(wrapped).__name__}; it must return the nn.Module to train"
    optimizer = _optimizer(strategy, wrapped)
    wrapped.train()
    x, target = torch.randn(BATCH, *TINY_INPUT), torch.tensor([0, 2])
    out = wrapped(x)
    assert isinstance(out, dict) and set(out) == {"out"}, \
        f"{where}: the wrapped model must return the model's dict of head outputs, got {type(out).__name__}"
    torch.nn.functional.cross_entropy(out["out"], target).backward()
    optimizer.step()

    summed = strategy.all_reduce(torch.tensor([1.0, 2.0]))
    assert isinstance(summed, torch.Tensor) and summed.tolist() == [1.0, 2.0], \
        f"{where}: all_reduce(tensor) must return the sum over ranks (the tensor itself in one process), " \
        f"got {summed!r}"

    state = strategy.model_state(wrapped)
    assert isinstance(state, dict), f"{where}: model_state() returned {type(state).__name__}, not a dict of tensors"
    got_keys = {name: tuple(t.shape) for name, t in state.items()}
    assert got_keys == expected_keys, f"{where}: model_state() must be keyed like the unwrapped model's " \
        f"state_dict() with full shapes: expected {expected_keys}, got {got_keys}"
    assert all(t.device.type == "cpu" for t in state.values()), f"{where}: model_state() must return CPU tensors"
    local = model.state_dict()
    if all(type(t) is torch.Tensor for t in local.values()):  # not sharded: compare with the trained weights
        stale = sorted(n for n, t in local.items() if not torch.equal(state[n], t.detach().cpu()))
        assert not stale, f"{where}: model_state() does not hold the trained values of {stale[:3]}"

    saved = strategy.optimizer_state(wrapped, optimizer)
    assert isinstance(saved, dict), f"{where}: optimizer_state() returned {type(saved).__name__}, not a dict"
    optimizer.zero_grad(set_to_none=True)  # a resumed run loads into a fresh optimizer, before any gradient
    fresh = _optimizer(strategy, wrapped)
    strategy.load_optimizer_state(wrapped, fresh, saved)
    again = strategy.optimizer_state(wrapped, fresh)
    assert _same(saved, again), f"{where}: load_optimizer_state() did not restore what optimizer_state() " \
        "returned (a resumed run would lose its optimizer state)"


def _optimizer(strategy: Any, wrapped: Any) -> Any:
    """SGD with momentum (there is state to save), through the strategy's ``wrap_optimizer`` when it has one."""
    import torch

    optimizer = torch.optim.SGD(wrapped.parameters(), lr=0.1, momentum=0.9)
    wrap_optimizer = getattr(strategy, "wrap_optimizer", None)
    return optimizer if wrap_optimizer is None else wrap_optimizer(wrapped, optimizer)


def _same(a: Any, b: Any) -> bool:
    """Equal nested containers of tensors and plain values."""
    import torch

    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and torch.equal(a, b)
    if isinstance(a, Mapping):
        return isinstance(b, Mapping) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return isinstance(b, list | tuple) and len(a) == len(b) and all(map(_same, a, b))
    return a == b
