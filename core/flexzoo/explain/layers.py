"""Where a model's feature maps are made: Grad-CAM's layer, and the last backbone stage the sanity check resets.

A backbone declares its feature maps (:class:`flexzoo.plugin.FeatureMap`) when asked for them with
``returns = "maps"``. A model whose heads take pooled features was built without them, so the host asks
the backbone's factory for a twin that returns maps (same parameters, no outside weights), runs it once
on zeros, and finds which submodule's output *is* each declared map (by identity, the outermost module
that returns it). The same name in the explained model is then the map's layer: nothing is guessed from
shapes or layer types.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from flexzoo.errors import FlexzooError
from flexzoo.manifest import schema

if TYPE_CHECKING:
    from torch import nn

    from flexzoo.host.registry import Registry

__all__ = ["feature_map_layers", "last_stage"]


def _maps_twin(manifest: Mapping[str, Any], input_shape: tuple[int, ...], registry: Registry) -> nn.Module | None:
    """The backbone built again to return its feature maps, or None when its factory cannot (no ``returns``)."""
    spec = dict(manifest.get("backbone") or {})
    factory = registry.resolve("backbone", spec.pop("use")).component.factory
    declared = {p.name: p.annotation for p in schema.parameters(factory)}
    if "returns" not in declared:
        return None
    kwargs = {name: schema.to_python(value, declared[name]) for name, value in spec.items() if name in declared}
    if "pretrained" in declared:
        kwargs["pretrained"] = False  # the twin's structure is what matters; its weights are never used
    if "input_shape" in declared:
        kwargs["input_shape"] = input_shape
    return factory(**kwargs, returns="maps")


def _producers(backbone: nn.Module, input_shape: tuple[int, ...]) -> dict[str, str]:
    """Each declared map's name -> the outermost submodule (of ``backbone``) whose output is that map."""
    import torch

    outputs: dict[int, str] = {}

    def record(name: str) -> Any:
        def hook(module: nn.Module, args: Any, output: Any) -> None:
            outputs[id(output)] = name  # hooks run inner modules first: the outermost one is written last
        return hook

    handles = [module.register_forward_hook(record(name)) for name, module in backbone.named_modules() if name]
    try:
        with torch.no_grad():
            maps = backbone.eval()(torch.zeros(1, *input_shape))
    finally:
        for handle in handles:
            handle.remove()
    if not isinstance(maps, Mapping):
        return {}
    return {feature_map.name: outputs[id(maps[feature_map.name])] for feature_map in backbone.feature_maps
            if id(maps.get(feature_map.name)) in outputs}


def feature_map_layers(model: nn.Module, manifest: Mapping[str, Any], input_shape: tuple[int, ...],
                       registry: Registry) -> dict[str, str]:
    """The declared feature maps of the model's backbone, in order: map name -> module name in ``model``.

    Empty when the backbone declares none (a method that needs them is then refused by the caller).
    """
    if manifest.get("inputs") or manifest.get("ensemble"):
        return {}
    backbone = model.backbone
    if not getattr(backbone, "feature_maps", None):
        twin = _maps_twin(manifest, input_shape, registry)
        if twin is None or not getattr(twin, "feature_maps", None):
            return {}
        backbone_layers = _producers(twin, input_shape)
    else:
        backbone_layers = _producers(backbone, input_shape)
    names = dict(model.named_modules())
    layers = {map_name: f"backbone.{name}" for map_name, name in backbone_layers.items()}
    missing = [name for name in layers.values() if name not in names]
    if missing:
        raise FlexzooError(f"the backbone's feature maps are made by {', '.join(missing)}, which the loaded model "
                           "does not have (its structure differs from the backbone that returns maps)")
    return layers


def last_stage(model: nn.Module, layers: Mapping[str, str]) -> str:
    """The backbone's last stage: the module of its last declared feature map, else its last parameterized part.

    Without declared maps: the backbone's last direct child that holds parameters and, when that is a
    container (``nn.Sequential``, ``nn.ModuleList``), the container's last such child.
    """
    from torch import nn

    if layers:
        return list(layers.values())[-1]

    def last_with_parameters(module: nn.Module) -> tuple[str, nn.Module] | None:
        found = [(n, m) for n, m in module.named_children() if any(True for _ in m.parameters())]
        return found[-1] if found else None

    top = last_with_parameters(model.backbone)
    if top is None:
        raise FlexzooError("the backbone holds no parameters: the randomization test has nothing to re-initialize")
    name, module = top
    if isinstance(module, (nn.Sequential, nn.ModuleList)):
        inner = last_with_parameters(module)
        if inner is not None:
            name = f"{name}.{inner[0]}"
    return f"backbone.{name}"
