"""``[[train.grow]]``: make the backbone wider and deeper while it trains, keeping what it computes.

Net2WiderNet / Net2DeeperNet (Chen, Goodfellow and Shlens, 2016). After epoch ``at_epoch`` the
backbone's factory builds the grown backbone (from the parameters the backbone's
:meth:`~flexzoo.plugin.protocols.GrowableBackbone.grown_parameters` gives), the heads' factories build heads
for its feature size, and every weight is carried over:

- a tensor whose first dimension grew (a layer's outputs: weight rows, bias, normalization
  parameters and statistics) copies old unit ``j % n`` into new unit ``j``;
- a weight whose second dimension grew (a layer reading replicated units) gives each copy a share
  of the old weight; the shares of one unit's copies sum to one, so the layer's output is unchanged.
  Shares are drawn at random (not equal halves), so the copies get different gradients and grow apart;
  with equal shares they would stay copies of each other under any optimizer.

Added layers start as the identity (the backbone decides how). The grown model's outputs are checked
against the model's on a batch before it replaces the model: a growth that changes them is refused.
The grown model is what the artifact stores; its manifest records the grown parameters.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
from torch import nn

from flexzoo.assembly import builder as assembly
from flexzoo.assembly.builder import ZooModel
from flexzoo.errors import ManifestKeyError
from flexzoo.host.registry import Registry
from flexzoo.manifest.resolved import ResolvedManifest
from flexzoo.manifest.train import GrowStep
from flexzoo.plugin.protocols import GrowableBackbone

__all__ = ["GROWTH_TOLERANCE", "Growth", "widened"]

#: How far (relative to the outputs' scale) a grown model's outputs may be from the model's: float rounding.
GROWTH_TOLERANCE = 1e-4
PROBE_BATCH = 8
SHARE_RANGE = (0.5, 1.5)  # each copy's share is drawn from this range, then the shares are normalized


def widened(tensor: torch.Tensor, shape: torch.Size, generator: torch.Generator) -> torch.Tensor:
    """``tensor`` grown to ``shape``: first dimension by copying units, second by splitting weights among copies."""
    grown = tensor
    if grown.shape == shape:
        return grown
    if grown.ndim != len(shape) or grown.ndim == 0:
        raise ValueError(f"cannot grow a tensor of shape {list(tensor.shape)} to {list(shape)}")
    if shape[0] != grown.shape[0]:
        grown = grown.index_select(0, _copied(grown.shape[0], shape[0], grown.device))
    if grown.ndim >= 2 and shape[1] != grown.shape[1]:
        units = grown.shape[1]
        source = _copied(units, shape[1], grown.device)
        share = torch.empty(shape[0], shape[1], dtype=grown.dtype).uniform_(*SHARE_RANGE, generator=generator)
        share = share.to(grown.device)
        total = torch.zeros(shape[0], units, dtype=grown.dtype, device=grown.device).index_add_(1, source, share)
        share = share / total.index_select(1, source)
        grown = grown.index_select(1, source) * share.view(*share.shape, *[1] * (grown.ndim - 2))
    if grown.shape != shape:
        raise ValueError(f"cannot grow a tensor of shape {list(tensor.shape)} to {list(shape)}")
    return grown


def _copied(units: int, grown: int, device: torch.device) -> torch.Tensor:
    """Which old unit each of the ``grown`` new units copies (new ``j`` copies old ``j % units``)."""
    return torch.arange(grown, device=device) % units


class Growth:
    """The run's ``[[train.grow]]`` steps over one model; ``manifest`` follows the backbone as it grows.

    A step that cannot run raises :class:`~flexzoo.errors.ManifestKeyError` at its ``train.grow[i]`` key.
    """

    def __init__(self, manifest: ResolvedManifest, registry: Registry, steps: tuple[GrowStep, ...], seed: int
                 ) -> None:
        self.manifest = manifest
        self.registry = registry
        self.steps = steps
        self.seed = seed
        self.records: list[dict[str, Any]] = []

    def check(self, model: ZooModel) -> None:
        """Plan every step on the meta device, before training: a step that cannot run fails now."""
        manifest, backbone = self.manifest, model.backbone
        for step in self.steps:
            manifest = self._next(manifest, backbone, step)
            with torch.device("meta"):
                backbone = assembly.assemble(manifest, self.registry, assembly.plan(manifest, self.registry)).backbone

    def due(self, epoch: int) -> bool:
        """Whether a step runs after ``epoch``."""
        return any(step.at_epoch == epoch for step in self.steps)

    def grow(self, model: ZooModel, epoch: int) -> dict[str, Any]:
        """Run the step due after ``epoch`` on ``model``, in place; return its record."""
        step = next(step for step in self.steps if step.at_epoch == epoch)
        manifest = self._next(self.manifest, model.backbone, step)
        device = next(model.parameters()).device
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed + epoch)
            grown = assembly.assemble(manifest, self.registry, assembly.plan(manifest, self.registry)).to(device)
        generator = torch.Generator().manual_seed(self.seed + epoch)
        try:
            added = _carry_over(model, grown, generator)
        except ValueError as exc:
            raise ManifestKeyError(f"train.grow[{self.steps.index(step)}]", f"cannot carry the weights over: {exc}",
                                   "grow a builtin mlp or cnn backbone") from None
        backbone = grown.backbone
        assert isinstance(backbone, GrowableBackbone)
        backbone.init_added_as_identity([name.removeprefix("backbone.") for name in added])
        self._check_outputs(model, grown, step, generator)
        before = sum(p.numel() for p in model.parameters())
        model.backbone, model.heads = grown.backbone, grown.heads
        record = {"at_epoch": epoch, "from": _changed(self.manifest, manifest), "to": _changed(manifest, self.manifest),
                  "parameters": [before, sum(p.numel() for p in model.parameters())]}
        self.manifest = manifest
        self.records.append(record)
        return record

    def replay(self, model: ZooModel, epoch: int) -> None:
        """Run the steps due up to ``epoch`` (a resumed run's model, before its checkpoint is loaded)."""
        for step in self.steps:
            if step.at_epoch <= epoch:
                self.grow(model, step.at_epoch)

    def final_manifest(self) -> ResolvedManifest:
        """The manifest of the grown model, as the artifact stores it: the grown backbone, no growth steps.

        ``flexzoo.load`` builds the grown architecture from it; the steps taken are in the artifact's
        training record.
        """
        train = {key: value for key, value in (self.manifest.train or {}).items() if key != "grow"}
        return dataclasses.replace(self.manifest, train=train)

    def _next(self, manifest: ResolvedManifest, backbone: nn.Module, step: GrowStep) -> ResolvedManifest:
        index = self.steps.index(step)
        use = manifest.backbone.use
        if not isinstance(backbone, GrowableBackbone):
            raise ManifestKeyError("train.grow", f"backbone `{use}` cannot grow: its module "
                                   f"({type(backbone).__name__}) has no grown_parameters/init_added_as_identity",
                                   "grow a builtin mlp or cnn backbone, or remove [[train.grow]]")
        widths = list(step.widths) if step.widths is not None else None
        try:
            changes = backbone.grown_parameters(widths, step.widen, step.deepen)
        except ValueError as exc:
            raise ManifestKeyError(f"train.grow[{index}]", f"`{use}` cannot grow so: {exc}") from None
        spec = dataclasses.replace(manifest.backbone, params={**manifest.backbone.params, **changes})
        return dataclasses.replace(manifest, backbone=spec)

    def _check_outputs(self, model: ZooModel, grown: ZooModel, step: GrowStep, generator: torch.Generator) -> None:
        shape = self.manifest.model.input_shape
        if shape is None:
            return
        device = next(model.parameters()).device
        probe = torch.randn((PROBE_BATCH, *shape), generator=generator).to(device)
        training = model.training
        model.eval()
        grown.eval()
        with torch.no_grad():
            before, after = model(probe), grown(probe)
        model.train(training)
        grown.train(training)
        for name, output in before.items():
            gap = float((after[name].float() - output.float()).abs().max())
            scale = 1.0 + float(output.float().abs().max())
            if gap > GROWTH_TOLERANCE * scale:
                raise ManifestKeyError(f"train.grow[{self.steps.index(step)}]",
                                       f"growing `{self.manifest.backbone.use}` changed head `{name}`'s outputs by up "
                                       f"to {gap:.3g}: this growth does not keep the model's function",
                                       "grow a builtin mlp or cnn backbone, or change the step")


def _carry_over(model: nn.Module, grown: nn.Module, generator: torch.Generator) -> list[str]:
    """Copy every tensor of ``model`` into ``grown``, widened where it grew; return ``grown``'s added tensors."""
    old = model.state_dict()
    added = []
    with torch.no_grad():
        for name, target in grown.state_dict().items():
            if name not in old:
                added.append(name)
                continue
            try:
                target.copy_(widened(old[name], target.shape, generator))
            except ValueError as exc:
                raise ValueError(f"{name}: {exc}") from None
    missing = sorted(set(old) - set(grown.state_dict()))
    if missing:
        raise ValueError(f"the grown model lacks {missing[:3]}: growth only adds")
    return [name for name in added if name in dict(grown.named_parameters())]


def _changed(manifest: ResolvedManifest, other: ResolvedManifest) -> dict[str, Any]:
    """The backbone parameters of ``manifest`` that differ in ``other``."""
    params, others = manifest.backbone.params, other.backbone.params
    return {name: value for name, value in params.items() if others.get(name) != value}
