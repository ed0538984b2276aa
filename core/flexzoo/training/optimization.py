"""Optimizers (sgd, adam, adamw) and learning-rate schedules (constant, cosine, step, onecycle, warm-up).

A schedule is a pure function of the global step, so a resumed run needs only the step to be where
the killed run was.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import torch

from flexzoo.manifest.train import TrainConfig

ONECYCLE_START_DIVISOR = 25.0  # torch's OneCycleLR defaults
ONECYCLE_FINAL_DIVISOR = 1e4
ONECYCLE_RISE = 0.3

#: ``[train] optimizer_impl`` -> the keyword arguments torch's SGD, Adam and AdamW take for it.
IMPLEMENTATIONS: dict[str, dict[str, bool]] = {
    "auto": {}, "for_loop": {"foreach": False}, "foreach": {"foreach": True}, "fused": {"fused": True},
}


def make_optimizer(config: TrainConfig, parameters: Iterable[torch.nn.Parameter]) -> torch.optim.Optimizer:
    """The optimizer ``[train] optimizer`` names, over the parameters that require gradients."""
    trainable = [p for p in parameters if p.requires_grad]
    impl = IMPLEMENTATIONS[config.optimizer_impl]
    if config.optimizer == "sgd":
        return torch.optim.SGD(trainable, lr=config.lr, momentum=config.momentum, nesterov=config.nesterov,
                               weight_decay=config.weight_decay, **impl)
    kind = torch.optim.AdamW if config.optimizer == "adamw" else torch.optim.Adam
    return kind(trainable, lr=config.lr, betas=config.betas, weight_decay=config.weight_decay, **impl)


def lr_factor(config: TrainConfig, steps_per_epoch: int) -> Callable[[int], float]:
    """The multiplier of ``lr`` at each global step (0-based)."""
    total = max(config.epochs * steps_per_epoch, 1)
    warmup = round(config.warmup_epochs * steps_per_epoch)
    floor = config.min_lr / config.lr

    def schedule(step: int) -> float:
        if config.schedule == "onecycle":
            rise = max(int(ONECYCLE_RISE * total), 1)
            if step < rise:
                return _cosine(1 / ONECYCLE_START_DIVISOR, 1.0, step / rise)
            final = 1 / (ONECYCLE_START_DIVISOR * ONECYCLE_FINAL_DIVISOR)
            return _cosine(1.0, final, (step - rise) / max(total - rise, 1))
        if step < warmup:
            return (step + 1) / warmup
        if config.schedule == "cosine":
            return _cosine(1.0, floor, (step - warmup) / max(total - warmup, 1))
        if config.schedule == "step":
            return config.gamma ** (step // (config.step_size * steps_per_epoch))
        return 1.0

    return schedule


def _cosine(start: float, end: float, progress: float) -> float:
    return end + (start - end) * (1 + math.cos(math.pi * min(progress, 1.0))) / 2


def set_lr(optimizer: torch.optim.Optimizer, config: TrainConfig, factor: float) -> float:
    """Set every group's learning rate to ``lr * factor``; return it."""
    lr = config.lr * factor
    for group in optimizer.param_groups:
        group["lr"] = lr
    return lr
