"""Casting floating-point weights to bfloat16 or float16."""

from __future__ import annotations

import torch
from torch import nn

DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16}


class Cast:
    """Every floating-point parameter and buffer in the chosen dtype (inputs must match it)."""

    restores_on_meta = True  # restore reshapes, replaces or casts modules: no tensor values needed

    def __init__(self, dtype: str) -> None:
        self.dtype = DTYPES[dtype]

    def __call__(self, model: nn.Module) -> nn.Module:
        return model.to(self.dtype)

    def record(self) -> dict:
        return {}  # the dtype is a parameter: nothing else to remember

    def restore(self, model: nn.Module, record: dict) -> nn.Module:
        return self(model)
