"""``[train.lora] store = "adapters"``: an artifact of adapters and heads, on a base artifact it names by hash.

Writing keeps the trained model's state less every backbone tensor the base artifact already holds
(an adapted layer's weight is the base's plus its adapter, so it goes too), and adds the adapters'
matrices (``<layer>.lora.down``, ``<layer>.lora.up``). The artifact's ``adapters`` record names the
base (its path relative to the artifact and its weights' sha256), the rank, alpha and the layers.

Reading such an artifact (:func:`flexzoo.artifact.load.read_weights`) folds the adapters into the
base's weights again, by the formula training merged them with: the model is the merged one, bit
for bit.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from flexzoo.artifact.load import read_weights
from flexzoo.compression.low_rank import ADAPTER_SUFFIXES
from flexzoo.host.registry import Registry
from flexzoo.manifest.train import LoraSettings

__all__ = ["adapter_state"]

BACKBONE = "backbone."


def adapter_state(state: dict[str, torch.Tensor], adapters: dict[str, torch.Tensor], settings: LoraSettings,
                  base: Path, artifact_dir: Path, registry: Registry) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """What an adapter artifact stores of the merged model's ``state``, and its ``adapters`` record.

    :param adapters: the adapters' matrices (:func:`~flexzoo.features.lora.training.adapter_tensors`),
        taken before merging.
    :param base: the ``[backbone] from`` artifact the backbone was loaded from.
    """
    base_info, base_tensors = read_weights(base, registry)
    layers = sorted(name.removesuffix(ADAPTER_SUFFIXES[0]) for name in adapters if name.endswith(ADAPTER_SUFFIXES[0]))
    merged = {layer + ".weight" for layer in layers}
    kept = {name: tensor for name, tensor in state.items()
            if not (name.startswith(BACKBONE) and (name in merged or _unchanged(tensor, base_tensors.get(name))))}
    record = {"base": {"path": Path(os.path.relpath(base.resolve(), artifact_dir.resolve())).as_posix(),
                       "weights_sha256": base_info.weights_sha256},
              "rank": settings.rank, "alpha": settings.alpha, "layers": layers}
    return {**kept, **adapters}, record


def _unchanged(tensor: torch.Tensor, base: torch.Tensor | None) -> bool:
    return base is not None and base.shape == tensor.shape and base.dtype == tensor.dtype and torch.equal(
        base, tensor.to(base.device))

