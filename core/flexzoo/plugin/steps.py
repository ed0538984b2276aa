"""The step context: what a compression step may ask of the host, handed to its factory as ``context``.

A data-dependent initializer (LSUV) gets the same context and reads its batches through it.
A compressor factory that declares a parameter ``context: StepContext`` receives one. Through it
a step reads the input shape, asks whether the model is being restored from an artifact (then it
must not train or read data), gets the ``[train]`` data (loaded once per run, whoever asks first),
fine-tunes or evaluates a model with the manifest's ``[train]`` settings, and loads another
artifact (a teacher). The factory runs during the dry run too: ask for data, training or
artifacts in the step's ``__call__``, never in the factory.

The host implements :class:`StepHost`; nothing here imports torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from flexzoo.errors import FlexzooError

if TYPE_CHECKING:
    import torch
    from torch import nn

__all__ = ["Distillation", "StepContext", "StepHost", "TrainingData"]


@dataclass(frozen=True)
class Distillation:
    """Knowledge distillation: ``alpha`` of the loss matches the teacher's outputs softened by ``temperature``."""

    teacher: nn.Module
    temperature: float
    alpha: float


class TrainingData(Protocol):
    """The ``[train]`` data as a step sees it: a seeded split and batches by index."""

    train_index: torch.Tensor
    validation_index: torch.Tensor
    fingerprint: str

    def batch(self, index: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]: ...


class StepHost(Protocol):
    """What the host provides behind a :class:`StepContext` (implemented by the pipeline)."""

    def training_data(self) -> TrainingData: ...

    def fine_tune(self, model: nn.Module, epochs: int | None, distillation: Distillation | None
                  ) -> list[dict[str, Any]]: ...

    def evaluate(self, model: nn.Module) -> dict[str, float]: ...

    def load_artifact(self, path: Path) -> nn.Module: ...

    def weights_sha256(self, path: Path) -> str: ...


class StepUnavailable(FlexzooError):
    """A step asked the host for something this run cannot give (no [train] data, no host at all)."""


class StepContext:
    """What the host offers a compression step. Factories receive it as their ``context`` parameter.

    :param input_shape: one sample's shape (``[model] input_shape``), or None.
    :param base_dir: the manifest's folder: relative paths a step takes resolve from it.
    :param restoring: True while ``flexzoo.load`` rebuilds the model; the stored tensors follow, so a
        step restores its structure and must not read data, train or load other artifacts.
    :param has_training_data: whether the manifest has a ``[train]`` section to train or calibrate on.
    """

    def __init__(self, *, input_shape: tuple[int, ...] | None, base_dir: Path | None, restoring: bool,
                 has_training_data: bool, host: StepHost | None = None) -> None:
        self.input_shape = input_shape
        self.base_dir = base_dir
        self.restoring = restoring
        self.has_training_data = has_training_data
        self._host = host

    def resolve_path(self, path: str | Path) -> Path:
        """``path`` as given when absolute, else relative to the manifest's folder."""
        path = Path(path)
        return path if path.is_absolute() or self.base_dir is None else self.base_dir / path

    def _needs(self, what: str, data: bool = False) -> StepHost:
        if self.restoring:
            raise StepUnavailable(f"a compression step asked to {what} while its model is being restored from an "
                                  "artifact; restore() must rebuild the structure from its record alone")
        if data and not self.has_training_data:
            raise StepUnavailable(f"a compression step asked to {what}, and the manifest has no [train] section; "
                                  'add [train] (for example data = "digits")')
        if self._host is None:
            raise StepUnavailable(f"a compression step asked to {what} outside a build (no host)")
        return self._host

    def training_data(self) -> TrainingData:
        """The manifest's ``[train]`` data, loaded once per run and shared with training."""
        return self._needs("read the [train] data", data=True).training_data()

    def calibration_batches(self, count: int, batch_size: int) -> list[torch.Tensor]:
        """The inputs of the first ``count`` batches of the training split, in the run's seeded order."""
        data = self.training_data()
        index = data.train_index[: count * batch_size]
        return [data.batch(index[start:start + batch_size])[0] for start in range(0, len(index), batch_size)]

    def fine_tune(self, model: nn.Module, *, epochs: int | None = None,
                  distillation: Distillation | None = None) -> list[dict[str, Any]]:
        """Train ``model`` in place with the ``[train]`` settings (default: its epochs); return the history."""
        return self._needs("fine-tune", data=True).fine_tune(model, epochs, distillation)

    def evaluate(self, model: nn.Module) -> dict[str, float]:
        """The validation metrics of ``model`` on the ``[train]`` data's held-out split."""
        return self._needs("evaluate", data=True).evaluate(model)

    def load_artifact(self, path: str | Path) -> nn.Module:
        """Load another artifact (a teacher), verified like ``flexzoo.load``; relative to the manifest."""
        return self._needs("load an artifact").load_artifact(self.resolve_path(path))

    def weights_sha256(self, path: str | Path) -> str:
        """The recorded sha256 of another artifact's weights (read from its header)."""
        return self._needs("read an artifact").weights_sha256(self.resolve_path(path))
