"""A model's state as the list of numpy arrays Flower sends, and back (in ``state_dict`` order)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


def arrays_of(model: nn.Module) -> list[np.ndarray]:
    return [tensor.detach().cpu().numpy().copy() for tensor in model.state_dict().values()]


def load_arrays(model: nn.Module, arrays: list[np.ndarray]) -> None:
    """Put ``arrays`` into ``model`` (averaged integer buffers, like BatchNorm's counters, are rounded back)."""
    state = model.state_dict()
    if len(arrays) != len(state):
        raise ValueError(f"{len(arrays)} arrays for a model with {len(state)} tensors")
    loaded = {}
    for (name, tensor), array in zip(state.items(), arrays):
        value = torch.from_numpy(np.asarray(array))
        loaded[name] = (value.round() if not tensor.is_floating_point() else value).to(tensor.dtype)
    model.load_state_dict(loaded)
