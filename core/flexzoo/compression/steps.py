"""The ``[[compress]]`` steps of one model: applying them, restoring them on load, packing their tensors.

A step is a :class:`flexzoo.plugin.protocols.CompressionStep`; one that is a ``RestorableStep`` records
what its structure needs and rebuilds it on load, one that is a ``PackingStep`` turns tensors
safetensors cannot hold into plain ones and back (see ``flexzoo.plugin.protocols``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from flexzoo.plugin.protocols import CompressionStep, PackingStep, RestorableStep

if TYPE_CHECKING:
    import torch
    from torch import nn

    from flexzoo.manifest.resolved import ComponentSpec

__all__ = ["Compression"]


@dataclass
class Compression:
    """A model's compression steps (instantiated, in manifest order) and the report measured on them."""

    specs: Sequence[ComponentSpec]
    steps: Sequence[CompressionStep]
    report: dict[str, Any] | None = field(default=None)

    @property
    def restores_on_meta(self) -> bool:
        """Whether every step restores its structure from its record alone, on the meta device.

        A step says so with a true ``restores_on_meta`` attribute (it needs no tensor values: it
        reshapes, replaces or casts modules). One that runs the model while restoring (static int8
        calibration) does not, and ``flexzoo.load`` then builds that model with real tensors.
        """
        return all(getattr(step, "restores_on_meta", False) for step in self.steps)

    def apply(self, model: nn.Module) -> nn.Module:
        """Run every step in order on ``model``; return the compressed model."""
        for step in self.steps:
            model = step(model)
        return model

    def restore(self, model: nn.Module, records: Sequence[dict[str, Any]]) -> nn.Module:
        """Rebuild the compressed structure from an artifact's records (stored tensors are loaded next)."""
        for step, stored in zip(self.steps, records):
            model = step.restore(model, stored["record"]) if isinstance(step, RestorableStep) else step(model)
        return model

    def pack(self, model: nn.Module) -> tuple[dict[str, torch.Tensor], list[dict[str, Any]]]:
        """The state dict as the artifact stores it, and each step's record and packing (JSON).

        Packs run in step order: a step's ``pack`` turns the tensors safetensors cannot hold into
        plain ones; its ``record`` says what ``restore`` needs to rebuild its structure.
        """
        state = model.state_dict()
        records = []
        for spec, step in zip(self.specs, self.steps):
            packing = None
            if isinstance(step, PackingStep):
                state, packing = step.pack(state)
            records.append({"use": spec.use, "record": step.record() if isinstance(step, RestorableStep) else {},
                            "packing": packing})
        return state, records

    def unpack(self, tensors: dict[str, torch.Tensor], records: Sequence[dict[str, Any]]
               ) -> tuple[dict[str, torch.Tensor], bool]:
        """Reverse :meth:`pack` (in reverse step order); also say whether any step had packed tensors."""
        packed = False
        for step, stored in reversed(list(zip(self.steps, records))):
            if stored.get("packing") is not None and isinstance(step, PackingStep):
                tensors = step.unpack(tensors, stored["packing"])
                packed = True
        return tensors, packed
