"""The same model, data, optimizer and precision as a zoo manifest's [train], under PyTorch Lightning's Trainer.

Bench only (``pip install '.[bench]'``). The model is flexzoo's build of the manifest, the data the
manifest's split of the digits, the loss the heads' cross-entropy sum, the optimizer AdamW at the
manifest's lr, float32, one process on the CPU; Lightning's idiomatic DataLoader feeds it.
"""

from __future__ import annotations

import time

import lightning as L
import torch
from torch.utils.data import DataLoader, TensorDataset

import flexzoo
from flexzoo.manifest.train import TrainConfig
from flexzoo.manifest.validation import load_manifest
from flexzoo.pipeline.stages import Pipeline


class Module(L.LightningModule):
    def __init__(self, model: torch.nn.Module, lr: float, weights: dict[str, float]) -> None:
        super().__init__()
        self.model, self.lr, self.weights = model, lr, weights

    def _loss(self, batch):
        x, *targets = batch
        out = self.model(x)
        return sum(self.weights[name] * torch.nn.functional.cross_entropy(out[name], target)
                   for name, target in zip(self.weights, targets))

    def training_step(self, batch, index):
        return self._loss(batch)

    def validation_step(self, batch, index):
        return self._loss(batch)

    def configure_optimizers(self):
        return torch.optim.AdamW(self.model.parameters(), lr=self.lr)


class EpochTimer(L.Callback):
    """Seconds from each training epoch's start to the end of its validation (as zoo's epoch records)."""

    def __init__(self) -> None:
        self.seconds: list[float] = []
        self._started = 0.0

    def on_train_epoch_start(self, trainer, module) -> None:
        self._started = time.perf_counter()

    def on_validation_epoch_end(self, trainer, module) -> None:
        if trainer.sanity_checking:
            return
        self.seconds.append(time.perf_counter() - self._started)


def fit(manifest_path: str, epochs: int) -> list[float]:
    """Train with Lightning; return each epoch's seconds (training + validation)."""
    manifest = load_manifest(manifest_path)
    config = TrainConfig.from_dict(manifest.train)
    model = flexzoo.build(manifest).train()
    data = Pipeline(manifest).training_data()
    heads = {head.name: head.weight for head in config.heads}

    def loader(index: torch.Tensor, shuffle: bool) -> DataLoader:
        tensors = [data.inputs[index], *(data.targets[name][index] for name in heads)]
        return DataLoader(TensorDataset(*tensors), batch_size=config.batch_size, shuffle=shuffle)

    timer = EpochTimer()
    trainer = L.Trainer(max_epochs=epochs, accelerator="cpu", devices=1, precision="32-true", logger=False,
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                        num_sanity_val_steps=0, callbacks=[timer])
    trainer.fit(Module(model, config.lr, heads), loader(data.train_index, True), loader(data.validation_index, False))
    return timer.seconds
