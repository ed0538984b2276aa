"""Knowledge distillation: the manifest's model learns from a teacher artifact's softened outputs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from flexzoo.plugin import Distillation, FlexzooError, StepContext


class Distill:
    """Train the model (the student) against the teacher with the manifest's [train] settings."""

    restores_on_meta = True  # restore reshapes, replaces or casts modules: no tensor values needed

    def __init__(self, context: StepContext, teacher: Path, temperature: float, alpha: float,
                 epochs: int) -> None:
        self.context = context
        self.teacher = teacher
        self.temperature = temperature
        self.alpha = alpha
        self.epochs = epochs
        self.recorded: dict[str, Any] = {}

    def __call__(self, model: nn.Module) -> nn.Module:
        teacher = self.context.load_artifact(self.teacher)
        if set(teacher.heads) != set(model.heads):
            raise FlexzooError(f"distill: the teacher {self.teacher} has heads {sorted(teacher.heads)}, the student "
                               f"{sorted(model.heads)}; they must be the same")
        history = self.context.fine_tune(model, epochs=self.epochs or None,
                                         distillation=Distillation(teacher, self.temperature, self.alpha))
        self.recorded = {"teacher": {"name": self.teacher.name,
                                     "weights_sha256": self.context.weights_sha256(self.teacher),
                                     "parameters": sum(p.numel() for p in teacher.parameters()),
                                     "validation": self.context.evaluate(teacher)},
                         "student": {"parameters": sum(p.numel() for p in model.parameters()),
                                     "validation": history[-1]["validation"]},
                         "epochs": len(history)}
        return model

    def record(self) -> dict[str, Any]:
        return self.recorded

    def restore(self, model: nn.Module, record: dict[str, Any]) -> nn.Module:
        self.recorded = record
        return model  # the structure is the manifest's own; the trained weights are loaded
