"""Structured channel pruning (torch-pruning) and unstructured magnitude pruning (torch.nn.utils.prune)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from flexzoo_plugin_compress import structure

if TYPE_CHECKING:
    from flexzoo.plugin import StepContext


def _attention_layers(model: nn.Module) -> dict[nn.Linear, int]:
    """Fused-qkv attention layers (timm's ``Attention``): qkv Linear -> number of heads."""
    return {module.qkv: module.num_heads for module in model.modules()
            if isinstance(getattr(module, "qkv", None), nn.Linear)
            and isinstance(getattr(module, "num_heads", None), int)}


def _fix_attention(model: nn.Module, heads: dict[nn.Linear, int]) -> None:
    """After pruning, an attention's head count and sizes must match its new qkv (or forward fails)."""
    for module in model.modules():
        qkv = getattr(module, "qkv", None)
        if qkv in heads:
            module.num_heads = heads[qkv]
            module.head_dim = qkv.out_features // (3 * module.num_heads)
            if hasattr(module, "attn_dim"):
                module.attn_dim = module.num_heads * module.head_dim


class PruneChannels:
    """Remove the least important channels of every prunable layer, keeping each head's outputs."""

    restores_on_meta = True  # restore reshapes, replaces or casts modules: no tensor values needed

    def __init__(self, input_shape: tuple[int, ...], amount: float, importance: str, round_to: int,
                 context: StepContext, fine_tune_epochs: int) -> None:
        self.input_shape = input_shape
        self.amount = amount
        self.importance = importance
        self.round_to = round_to
        self.context = context
        self.fine_tune_epochs = fine_tune_epochs
        self.recorded: dict[str, Any] = {}

    def __call__(self, model: nn.Module) -> nn.Module:
        import torch_pruning as tp

        before = structure.settings(model)
        params_before = sum(p.numel() for p in model.parameters())
        heads = _attention_layers(model)
        outputs = [m for head in model.heads.values() for m in head.modules()
                   if isinstance(m, (nn.Linear, nn.Conv2d))]
        example = torch.randn(2, *self.input_shape, generator=torch.Generator().manual_seed(0))
        pruner = tp.pruner.MetaPruner(
            model, example,
            importance=tp.importance.GroupMagnitudeImportance(p=1 if self.importance == "l1" else 2),
            pruning_ratio=self.amount,
            ignored_layers=outputs,
            num_heads=heads,
            prune_num_heads=bool(heads),
            prune_head_dims=False,
            head_pruning_ratio=self.amount,
            round_to=self.round_to,
            output_transform=lambda out: sum(o.sum() for o in out.values()),
        )
        was_training = model.training
        model.eval()
        pruner.step()
        model.train(was_training)
        _fix_attention(model, {qkv: pruner.num_heads.get(qkv, count) for qkv, count in heads.items()})
        if isinstance(getattr(model.backbone, "num_features", None), int):
            with torch.no_grad():
                model.backbone.num_features = int(model.backbone.eval()(example).shape[1])
            model.train(was_training)
        self.recorded = structure.record(before, model)
        self.recorded["parameters"] = [params_before, sum(p.numel() for p in model.parameters())]
        if self.fine_tune_epochs:
            history = self.context.fine_tune(model, epochs=self.fine_tune_epochs)
            self.recorded["fine_tune"] = [{"epoch": h["epoch"], "validation": h["validation"]} for h in history]
        return model

    def record(self) -> dict[str, Any]:
        return self.recorded

    def restore(self, model: nn.Module, record: dict[str, Any]) -> nn.Module:
        self.recorded = record
        return structure.restore(model, record)


class PruneL1:
    """Zero the smallest weights of Linear and Conv layers, permanently (sparsity, not speed)."""

    restores_on_meta = True  # restore reshapes, replaces or casts modules: no tensor values needed

    def __init__(self, amount: float, scope: str) -> None:
        self.amount = amount
        self.scope = scope
        self.sparsity = 0.0

    def __call__(self, model: nn.Module) -> nn.Module:
        from torch.nn.utils import prune

        layers = [(m, "weight") for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d))]
        if self.scope == "global":
            prune.global_unstructured(layers, pruning_method=prune.L1Unstructured, amount=self.amount)
        else:
            for module, name in layers:
                prune.l1_unstructured(module, name, amount=self.amount)
        for module, name in layers:
            prune.remove(module, name)  # folds the mask into the weight: no mask left, no extra bytes
        zeros = sum(int((m.weight == 0).sum()) for m, _ in layers)
        self.sparsity = zeros / max(sum(m.weight.numel() for m, _ in layers), 1)
        return model

    def record(self) -> dict[str, Any]:
        return {"sparsity": round(self.sparsity, 6)}

    def restore(self, model: nn.Module, record: dict[str, Any]) -> nn.Module:
        self.sparsity = record["sparsity"]
        return model  # shapes are unchanged: the stored (sparse) weights load as they are
