"""The epoch and the validation pass, shared by ``zoo train`` and by fine-tuning compression steps.

Every rank walks the same seeded order of the data and takes its share of every global batch; the
loss is scaled so that averaging gradients over ranks gives the gradient of the whole batch.
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch

from flexzoo.errors import ManifestKeyError
from flexzoo.manifest.train import TrainConfig
from flexzoo.plugin.protocols import Strategy
from flexzoo.training.adversarial import Adversary, plain_module
from flexzoo.training.data import Dataset
from flexzoo.training.objectives import Objective
from flexzoo.training.optimization import set_lr
from flexzoo.training.progress import Progress
from flexzoo.training.transforms import batch_mixer

__all__ = ["AMP_DTYPES", "EPOCH_SEED_STRIDE", "EpochLoop"]

AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
EPOCH_SEED_STRIDE = 1_000_003  # keeps (seed, epoch, rank) streams apart


class EpochLoop:
    """One rank's epochs over a data set: seeded order, sharded batches, loss, metrics.

    A setting the model or data cannot train with raises :class:`~flexzoo.errors.ManifestKeyError` at its key.
    """

    def __init__(self, config: TrainConfig, strategy: Strategy, seed: int) -> None:
        self.config = config
        self.strategy = strategy
        self.seed = seed

    def objective(self, model: torch.nn.Module, data: Dataset) -> Objective:
        """The heads' losses and metrics, checked against what the model returns for two samples."""
        sample_inputs, _ = data.batch(data.train_index[:2])
        with torch.no_grad():
            outputs = model.eval()(sample_inputs)
        size = tuple(sample_inputs.shape[-2:]) if isinstance(sample_inputs, torch.Tensor) and sample_inputs.ndim == 4 \
            else None
        objective = Objective.for_model(self.config.heads, outputs, data.targets, size)
        if not data.in_memory:  # every sample read later is held to the classes its head outputs
            data.expect_classes(objective.classes())
        return objective

    def steps_per_epoch(self, samples: int) -> int:
        """Full batches, plus a last partial one when it gives every rank at least one sample."""
        full, rest = divmod(samples, self.config.batch_size)
        return full + (1 if rest >= self.strategy.world_size else 0)

    def epoch_order(self, data: Dataset, epoch: int) -> torch.Tensor:
        generator = torch.Generator().manual_seed(self.seed * EPOCH_SEED_STRIDE + epoch)
        return data.train_index[torch.randperm(len(data.train_index), generator=generator)]

    def laid_out(self, inputs: Any, device: torch.device) -> Any:
        """A batch on ``device``, channels-last when ``[train] channels_last`` asks for it (each input's, for a
        model of several inputs)."""
        if isinstance(inputs, dict):
            return {name: self.laid_out(tensor, device) for name, tensor in inputs.items()}
        if inputs.device != device:
            inputs = inputs.to(device, non_blocking=True)
        if self.config.channels_last and inputs.ndim == 4:
            inputs = inputs.contiguous(memory_format=torch.channels_last)
        return inputs

    def autocast(self, device: torch.device) -> contextlib.AbstractContextManager:
        if self.config.amp == "none":
            return contextlib.nullcontext()
        return torch.autocast(device_type=device.type, dtype=AMP_DTYPES[self.config.amp])

    def train_epoch(self, wrapped: torch.nn.Module, objective: Any, optimizer: torch.optim.Optimizer,
                    data: Dataset, device: torch.device, epoch: int, step: int, schedule: Any,
                    scaler: Any, progress: Progress) -> tuple[float, int]:
        """One pass over this rank's share of the epoch; returns the mean training loss and the next step."""
        config, rank, world = self.config, self.strategy.rank, self.strategy.world_size
        torch.manual_seed((self.seed * EPOCH_SEED_STRIDE + epoch) * 1024 + rank)  # dropout
        order = self.epoch_order(data, epoch)
        steps = self.steps_per_epoch(len(order))
        batches = [order[index * config.batch_size:(index + 1) * config.batch_size] for index in range(steps)]
        mixer = self.mixer(objective) if config.augmented else None
        adversary = Adversary.for_run(config.adversarial, config.heads, data) if config.adversarial is not None \
            else None
        losses, shares = [], []
        if data.streamed:  # the same batch sizes, in the stream's own seeded order
            feed = data.epoch_batches(epoch, steps, rank, world)
        else:
            feed = data.batches([b[rank::world] for b in batches], epoch=epoch, train=True)
        for index, (inputs, targets) in enumerate(feed):
            batch = batches[index]
            if mixer is not None:
                inputs, targets = mixer(inputs, targets)
            inputs = self.laid_out(inputs, device)
            if adversary is not None:  # made against the model as it is at this step, on this rank's share
                inputs = self.laid_out(adversary(plain_module(wrapped), inputs, targets), device)
            set_lr(optimizer, config, schedule(step))
            with self.autocast(device):
                outputs = wrapped(inputs)
            loss = objective.loss(outputs, targets, len(batch) / world)
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.unscale_(optimizer)
            else:
                loss.backward()
            if config.clip_grad_norm:
                torch.nn.utils.clip_grad_norm_(wrapped.parameters(), config.clip_grad_norm)
            if scaler is not None:
                scaler.step(optimizer)
                scaler.update()
            else:
                optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            losses.append(loss.detach())
            shares.append(len(batch) / world)
            step += 1
            progress.step(epoch, index + 1, loss.detach(), len(batch))
        seen = float(min(steps * config.batch_size, len(order)))
        total = torch.stack(losses).double() @ torch.tensor(shares, dtype=torch.float64, device=device)
        total = self.strategy.all_reduce(total)
        return float(total / seen), step

    def validate(self, wrapped: torch.nn.Module, objective: Objective, data: Dataset, device: torch.device,
                 progress: Progress | None = None, epoch: int = 0) -> dict[str, float]:
        """The metrics on the held-out split, summed over ranks; ``progress`` hears of each batch."""
        rank, world = self.strategy.rank, self.strategy.world_size
        shard = data.validation_index[rank::world]
        per_rank = -(-len(data.validation_index) // world)  # the same number of batches on every rank
        batches = [shard[start:start + self.config.batch_size] for start in range(0, per_rank, self.config.batch_size)]
        sums = None
        seen = 0
        objective.reset()
        wrapped.eval()
        with torch.no_grad():
            for inputs, targets in data.batches(batches, epoch=0, train=False):
                with self.autocast(device):
                    outputs = wrapped(self.laid_out(inputs, device))
                batch_sums = objective.sums(outputs, targets)
                sums = batch_sums if sums is None else sums + batch_sums
                seen += len(inputs)
                if progress is not None:
                    progress.validating(epoch, len(inputs) * world)
        assert sums is not None
        sums = self.strategy.all_reduce(sums.to(device))
        count = float(len(data.validation_index))
        if not data.in_memory:  # skipped samples do not count
            count = float(self.strategy.all_reduce(torch.tensor([float(seen)], dtype=torch.float64, device=device)))
        return objective.metrics(sums.cpu(), count)

    def mixer(self, objective: Objective) -> Any:
        """Mixup/CutMix over one classification head's target, or None when they are off."""
        heads = [h for h in objective.heads if h.weight]
        if not (self.config.augment.get("mixup") or self.config.augment.get("cutmix")):
            return None
        if len(heads) != 1 or heads[0].task != "classification":
            raise ManifestKeyError("train.augment", "mixup and cutmix mix the labels of one classification head; the "
                                   f"model trains {len(heads)} head(s)", "turn mixup and cutmix off")
        head = heads[0]
        mix = batch_mixer(self.config.augment, objective.scores[head.name].outputs)

        def mixed(inputs: torch.Tensor, targets: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict]:
            inputs, soft = mix(inputs, targets[head.target].long())
            return inputs, {**targets, head.target: soft}
        return mixed
