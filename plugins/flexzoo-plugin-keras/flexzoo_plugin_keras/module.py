"""The module around a keras model on the torch backend (imports torch and keras)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

from flexzoo_plugin_keras.backend import import_keras


@contextlib.contextmanager
def seeded_from_torch() -> Iterator[None]:
    """Seed keras's initializers from torch's generator, so the host's seed decides keras's weights too.

    keras draws initial weights from its own seed generator, not torch's; without this, two builds
    of one manifest would differ.
    """
    keras = import_keras()
    seed = int(torch.randint(0, 2**31 - 1, (), device="cpu"))
    keras.utils.set_random_seed(seed)  # also reseeds torch, numpy and random, from torch's own draw
    yield


class KerasBackbone(nn.Module):
    """A keras model (a ``torch.nn.Module`` on keras's torch backend) as a backbone.

    Images arrive (B, C, H, W) and are given to keras channels-last, with ``training`` from torch's
    ``train()``/``eval()`` mode. keras tracks each variable
    twice in a Sequential's module tree (the model's and its inner functional graph's); the state
    dict keeps one name per tensor, and loading fills the other from it. A keras variable holds its
    own tensor: after ``load_state_dict(assign=True)`` (how ``flexzoo.load`` restores a model) put
    new tensors in the module tree, :func:`_relink` copies them into the variables' tensors and
    puts those back, so that forward, the optimizer and the state dict all see one tensor.
    """

    def __init__(self, model: Any, channels_last: bool) -> None:
        super().__init__()
        self.model = model
        self.channels_last = channels_last
        self.num_features = int(model.output_shape[-1])
        self._register_state_dict_hook(_drop_aliases)
        self._register_load_state_dict_pre_hook(_restore_aliases, with_module=True)
        self.register_load_state_dict_post_hook(_relink)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.channels_last:
            x = x.permute(0, 2, 3, 1)
        # keras does not read torch's train()/eval() flag: without `training`, batch normalization would
        # never update its statistics in the host's loop and dropout would never drop
        return self.model(x, training=self.training)


def _aliases(module: nn.Module, prefix: str) -> dict[str, str]:
    """Names of tensors that another name of the same module tree already holds: alias -> kept name."""
    seen: dict[int, str] = {}
    aliases: dict[str, str] = {}
    for name, tensor in [*module.named_parameters(remove_duplicate=False),
                         *module.named_buffers(remove_duplicate=False)]:
        if id(tensor) in seen:
            aliases[prefix + name] = prefix + seen[id(tensor)]
        else:
            seen[id(tensor)] = name
    return aliases


def _drop_aliases(module: nn.Module, state: dict[str, Any], prefix: str, local_metadata: Any) -> None:
    for alias in _aliases(module, prefix):
        state.pop(alias, None)


def _restore_aliases(module: nn.Module, state: dict[str, Any], prefix: str, *args: Any) -> None:
    for alias, kept in _aliases(module, prefix).items():
        if kept in state and alias not in state:
            state[alias] = state[kept]


def _relink(backbone: nn.Module, incompatible: Any) -> None:
    variables = {variable.path: variable for variable in backbone.model.variables}
    for module in backbone.model.modules():
        tracked = getattr(module, "_torch_params", None)
        if not isinstance(tracked, nn.ParameterDict):
            continue
        for path, tensor in list(tracked.items()):
            variable = variables.get(path)
            if variable is not None and tensor is not variable.value:
                variable.assign(tensor.detach())
                tracked[path] = variable.value
