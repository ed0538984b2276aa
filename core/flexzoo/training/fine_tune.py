"""Training an already built (and compressed) model further, with the manifest's [train] settings.

Compression steps reach it through their ``StepContext`` (``context.fine_tune``, ``context.evaluate``):
``prune_channels`` fine-tunes after pruning, ``distill`` trains a student against a teacher's softened
outputs. It runs the same epoch and validation code as ``zoo train``, in this process, on the same
seeded data order and the data the run already loaded; no checkpoints or artifacts are written.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
from torch import nn
from torch.nn import functional

from flexzoo.inputs.dtypes import input_dtype
from flexzoo.manifest.train import TrainConfig
from flexzoo.plugin.single_process import SingleProcess
from flexzoo.plugin.steps import Distillation
from flexzoo.training.data import Dataset
from flexzoo.training.loop import EpochLoop
from flexzoo.training.objectives import Objective
from flexzoo.training.optimization import lr_factor, make_optimizer
from flexzoo.training.progress import Progress

__all__ = ["evaluate", "fine_tune"]


class _WithTeacher(nn.Module):
    """The student, remembering what the teacher says about the same batch."""

    def __init__(self, student: nn.Module, teacher: nn.Module) -> None:
        super().__init__()
        self.student = student
        self.teacher = [teacher.eval()]  # a list: not a submodule, so it is neither trained nor saved
        self.teacher_outputs: dict[str, torch.Tensor] = {}

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        with torch.no_grad():
            self.teacher_outputs = self.teacher[0](x)
        return self.student(x)


class _DistillationObjective:
    """The task loss, blended with the KL divergence from the teacher on every classification head."""

    def __init__(self, objective: Objective, wrapped: _WithTeacher, distillation: Distillation) -> None:
        self.objective = objective
        self.wrapped = wrapped
        self.distillation = distillation

    def loss(self, outputs: dict[str, torch.Tensor], targets: dict[str, torch.Tensor], denominator: float
             ) -> torch.Tensor:
        task = self.objective.loss(outputs, targets, denominator)
        temperature, alpha = self.distillation.temperature, self.distillation.alpha
        soft = None
        for head in self.objective.heads:
            if head.task != "classification" or not head.weight:
                continue
            teacher = self.wrapped.teacher_outputs[head.name]
            divergence = functional.kl_div(functional.log_softmax(outputs[head.name] / temperature, dim=1),
                                           functional.log_softmax(teacher / temperature, dim=1),
                                           reduction="sum", log_target=True) * temperature**2 / denominator
            soft = divergence * head.weight if soft is None else soft + divergence * head.weight
        return task if soft is None else (1 - alpha) * task + alpha * soft

    def __getattr__(self, name: str) -> Any:
        return getattr(self.objective, name)


class _FineTuner(EpochLoop):
    """The trainer's epoch and validation code, on a given model, in one process, without files."""

    def __init__(self, config: TrainConfig, data: Dataset, seed: int, epochs: int | None) -> None:
        # Starting from trained weights: no warm-up, the schedule spans the fine-tune's own epochs.
        config = dataclasses.replace(config, epochs=epochs or config.epochs, warmup_epochs=0.0)
        super().__init__(config, SingleProcess(), seed)
        self.data = data

    def evaluate(self, model: nn.Module) -> dict[str, float]:
        objective = self.objective(model, self.data)
        return self.validate(model, objective, self.data, torch.device("cpu"))

    def fit(self, model: nn.Module, distillation: Distillation | None, validate: bool = True
            ) -> list[dict[str, Any]]:
        objective: Any = self.objective(model, self.data)
        runner: nn.Module = model
        if distillation is not None:
            runner = _WithTeacher(model, distillation.teacher)
            objective = _DistillationObjective(objective, runner, distillation)
        for parameter in model.parameters():
            parameter.requires_grad_(True)
        optimizer = make_optimizer(self.config, model.parameters())
        steps = self.steps_per_epoch(len(self.data.train_index))
        schedule = lr_factor(self.config, steps)
        progress = Progress(self.config.epochs, steps, enabled=False)
        device, step, history = torch.device("cpu"), 0, []
        for epoch in range(self.config.epochs):
            runner.train()
            loss, step = self.train_epoch(runner, objective, optimizer, self.data, device, epoch, step, schedule,
                                          None, progress)
            validation = self.validate(model, objective.objective if distillation else objective, self.data,
                                       device) if validate else {}
            history.append({"epoch": epoch + 1, "train_loss": loss, "validation": validation})
        model.eval()
        return history


def fine_tune(model: nn.Module, config: TrainConfig, data: Dataset, *, seed: int, epochs: int | None = None,
              distillation: Distillation | None = None, validate: bool = True) -> list[dict[str, Any]]:
    """Train ``model`` in place for ``epochs`` (default: [train] epochs) on ``data``; return the history.

    With ``validate=False`` the epochs' records have an empty ``validation`` (no pass over the held-out split).
    """
    return _FineTuner(config, data, seed, epochs).fit(model, distillation, validate)


class _InputsAs(nn.Module):
    """A model whose weights are in another dtype (bf16, fp16), fed and read in float32."""

    def __init__(self, model: nn.Module, dtype: torch.dtype) -> None:
        super().__init__()
        self.model = model
        self.dtype = dtype

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {name: output.float() for name, output in self.model(x.to(self.dtype)).items()}


def evaluate(model: nn.Module, config: TrainConfig, data: Dataset, *, seed: int) -> dict[str, float]:
    """The validation metrics of ``model`` on ``data``'s held-out split."""
    with torch.no_grad():
        return _FineTuner(config, data, seed, None).evaluate(_InputsAs(model.eval(), input_dtype(model)))
