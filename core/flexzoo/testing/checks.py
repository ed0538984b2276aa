"""One check per promise the host relies on; each raises AssertionError saying what to fix.

Each kind's check runs its component as the host does and holds it to the kind's Protocol in
``flexzoo.plugin.protocols`` (re-exported by ``flexzoo.plugin``); strategies and compressors, whose
contracts are longest, have a module each.
"""

from __future__ import annotations

import importlib
import inspect
import subprocess
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from flexzoo.errors import ParameterError
from flexzoo.host.registry import Registry
from flexzoo.manifest import schema
from flexzoo.plugin.components import RegisteredComponent
from flexzoo.plugin.kinds import kind_named, resolve
from flexzoo.plugin.protocols import Backbone, DataDependentInitializer, FeatureMap, Head, Initializer
from flexzoo.testing.compressors import check_compressor
from flexzoo.testing.datasets import check_dataset
from flexzoo.testing.explainers import check_explainer
from flexzoo.testing.inputs import BATCH, data_context, declared, example_arguments, member_models
from flexzoo.testing.strategies import check_strategy

__all__ = ["HEAVY_MODULES", "check_backbone", "check_component", "check_compressor", "check_dataset",
           "check_explainer", "check_head", "check_initializer", "check_listing_is_light", "check_schema",
           "check_strategy", "plugin_components"]

#: Modules a plugin's registration must not import.
HEAVY_MODULES: tuple[str, ...] = ("torch", "timm", "numpy", "safetensors")


def plugin_components(module: str | Any, name: str | None = None) -> list[RegisteredComponent]:
    """The components the plugin module declares, loaded as the host loads it; a broken plugin fails."""
    obj = importlib.import_module(module) if isinstance(module, str) else module
    name = name or obj.__name__.rpartition(".")[2].removeprefix("flexzoo_plugin_")
    registry = Registry.from_modules({name: obj})
    plugin = registry.plugin(name)
    assert plugin is not None and plugin.status == "loaded", f"plugin {name} does not load: {plugin and plugin.error}"
    return registry.components()


def check_schema(entry: RegisteredComponent) -> None:
    """The factory's signature works as a schema: documented, typed, keyword-callable, valid defaults."""
    factory = entry.component.factory
    where = f"{entry.kind} {entry.qualified_name}"
    assert entry.component.summary, f"{where}: the factory has no docstring (its first line is the summary)"
    signature = inspect.signature(factory)
    for param in signature.parameters.values():
        assert param.kind is not param.POSITIONAL_ONLY, f"{where}: `{param.name}` is positional-only; " \
            "manifests pass parameters by keyword"
        assert param.kind is not param.VAR_POSITIONAL, f"{where}: *{param.name} cannot be set from a manifest"
    names = [p.name for p in signature.parameters.values()]
    if entry.kind == "head":
        assert "in_features" in names or "feature_maps" in names, f"{where}: a head factory must take " \
            "`in_features: int` (pooled features) or `feature_maps: list[FeatureMap]` (feature maps)"
    for spec in schema.parameters(factory):
        assert spec.annotation is not None, f"{where}: `{spec.name}` has no type annotation " \
            "(the annotation is the type a manifest is checked against)"
        assert spec.doc, f"{where}: `{spec.name}` is not documented (add it to the docstring's Args: block)"
        if not spec.required:
            assert schema.matches(schema.to_toml(spec.default), spec.annotation), \
                f"{where}: the default of `{spec.name}`, {spec.default!r}, is not a {spec.type_text}"
            broken = schema.violations(schema.to_toml(spec.default), spec.annotation, spec.name)
            assert not broken, f"{where}: the default breaks its own constraint: {'; '.join(broken)}"


def check_backbone(entry: RegisteredComponent, input_shape: Sequence[int], example: Mapping[str, Any] | None = None
                   ) -> int:
    """The backbone follows :class:`flexzoo.plugin.Backbone`: an nn.Module mapping (B, *input_shape) to (B, F).

    Returns F, which must match ``num_features`` where the module sets it. A factory that declares
    ``returns`` is also asked for ``"maps"`` and held to the feature maps it declares (unless it refuses
    them for the example's parameters with a ParameterError).
    """
    import torch

    from flexzoo.inputs.dtypes import declared_input_dtype, example_input

    kwargs = example_arguments(entry, example)
    if "input_shape" in declared(entry):
        kwargs["input_shape"] = tuple(input_shape)
    if "members" in declared(entry):  # an ensemble backbone: the host passes the member models
        kwargs["members"] = member_models(tuple(input_shape))
    fusion = "branches" in declared(entry)
    if fusion:  # a fusion of [inputs]: the host passes one backbone per input and their feature sizes
        kwargs["branches"], kwargs["features"] = branch_backbones(tuple(input_shape))
    module = entry.component.factory(**kwargs).eval()
    assert isinstance(module, torch.nn.Module) and isinstance(module, Backbone), \
        f"{entry.qualified_name} returned {type(module).__name__}; a backbone factory must return an nn.Module"
    with torch.no_grad():
        example = example_input(tuple(input_shape), BATCH, declared_input_dtype(module) or torch.float32)
        features = module({name: example for name in kwargs["branches"]} if fusion else example)
    assert isinstance(features, torch.Tensor) and features.ndim == 2 and features.shape[0] == BATCH, \
        f"{entry.qualified_name}: features must be (batch, F), got {getattr(features, 'shape', type(features))}"
    size = int(features.shape[1])
    reported = getattr(module, "num_features", None)
    if isinstance(reported, int):
        assert reported == size, f"{entry.qualified_name}: num_features says {reported}, the output has {size}"
    if "returns" in declared(entry):
        try:
            maps_module = entry.component.factory(**kwargs, returns="maps").eval()
        except ParameterError:
            return size  # these parameters cannot give maps, and the factory says which would
        check_feature_maps(entry.qualified_name, maps_module, tuple(input_shape))
    return size


def branch_backbones(input_shape: tuple[int, ...]) -> tuple[dict[str, Any], dict[str, int]]:
    """Two builtin MLPs on ``input_shape`` (8 and 6 features), as the host hands them to a fusion."""
    from flexzoo.builtin import backbones

    branches = {"first": backbones.mlp(input_shape=input_shape, widths=[8]),
                "second": backbones.mlp(input_shape=input_shape, widths=[6])}
    return branches, {"first": 8, "second": 6}


def check_feature_maps(name: str, module: Any, input_shape: tuple[int, ...]) -> None:
    """A backbone asked for maps declares ``feature_maps`` and returns exactly those, in order, at their strides."""
    import torch

    from flexzoo.inputs.dtypes import declared_input_dtype, example_input

    declared_maps = tuple(getattr(module, "feature_maps", None) or ())
    assert declared_maps and all(isinstance(m, FeatureMap) for m in declared_maps), \
        f"{name}: asked for returns=\"maps\", the module must set feature_maps: tuple[FeatureMap, ...]"
    with torch.no_grad():
        maps = module(example_input(input_shape, BATCH, declared_input_dtype(module) or torch.float32))
    names = [m.name for m in declared_maps]
    assert isinstance(maps, Mapping) and list(maps) == names, \
        f"{name}: with returns=\"maps\" forward must return a dict keyed {names}, in that order; got " \
        f"{list(maps) if isinstance(maps, Mapping) else type(maps).__name__}"
    height, width = input_shape[-2:]
    for feature_map in declared_maps:
        shape = tuple(maps[feature_map.name].shape)
        sizes = [(size // feature_map.stride, -(-size // feature_map.stride)) for size in (height, width)]
        assert len(shape) == 4 and shape[:2] == (BATCH, feature_map.channels) and all(
            low <= got <= high for got, (low, high) in zip(shape[2:], sizes)), \
            f"{name}: map `{feature_map.name}` declares {feature_map.channels} channels at stride " \
            f"{feature_map.stride}, so ({BATCH}, {feature_map.channels}, ~{height}/{feature_map.stride}, " \
            f"~{width}/{feature_map.stride}) for input {list(input_shape)}; got {list(shape)}"


def check_head(entry: RegisteredComponent, in_features: int = 8, example: Mapping[str, Any] | None = None
               ) -> None:
    """The head follows :class:`flexzoo.plugin.Head`: an nn.Module mapping (B, in_features) to (B, ...).

    A head that takes ``feature_maps`` gets two maps (8 channels at stride 2, 16 at stride 4) of a
    (3, 16, 16) input instead.
    """
    import torch

    names = declared(entry)
    host: dict[str, Any] = {}
    if "feature_maps" in names:
        maps = [FeatureMap("fine", 8, 2), FeatureMap("coarse", 16, 4)]
        host["feature_maps"] = maps
        features: Any = {m.name: torch.randn(BATCH, m.channels, 16 // m.stride, 16 // m.stride) for m in maps}
    else:
        host["in_features"] = in_features
        features = torch.randn(BATCH, in_features)
    if "input_shape" in names:
        host["input_shape"] = (3, 16, 16)
    module = entry.component.factory(**host, **example_arguments(entry, example))
    assert isinstance(module, torch.nn.Module) and isinstance(module, Head), \
        f"{entry.qualified_name} returned {type(module).__name__}; a head factory must return an nn.Module " \
        "(the host puts it in the model's `heads`, an nn.ModuleDict)"
    module.eval()
    with torch.no_grad():
        out = module(features)
    assert isinstance(out, torch.Tensor) and out.shape[0] == BATCH, \
        f"{entry.qualified_name}: output must be a tensor with the batch first, got {getattr(out, 'shape', out)}"


def _state(module: Any) -> dict[str, Any]:
    return {name: t.detach().clone() for name, t in [*module.named_parameters(), *module.named_buffers()]}


def check_initializer(entry: RegisteredComponent, example: Mapping[str, Any] | None = None) -> None:
    """The initializer follows :class:`flexzoo.plugin.Initializer`: ``init(module)`` changes, in place, the
    parameters that module owns directly, and nothing else."""
    import torch
    from torch import nn

    kwargs = example_arguments(entry, example)
    if "context" in declared(entry):
        kwargs["context"] = data_context((2, 5, 5))
    init = entry.component.factory(**kwargs)
    assert isinstance(init, Initializer), \
        f"{entry.qualified_name} returned {type(init).__name__}; an initializer factory must return init(module)"
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(2, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.LazyLinear(5), nn.Linear(5, 3))
    net(torch.randn(1, 2, 5, 5))
    if isinstance(init, DataDependentInitializer):
        _check_data_dependent(entry, init, net)
    changed_any = False
    for index in (0, 4):
        before = _state(net)
        init(net[index])
        after = _state(net)
        changed = {name for name in before if not torch.equal(before[name], after[name])}
        outside = sorted(n for n in changed if not n.startswith(f"{index}.") or n.count(".") > 1)
        assert not outside, f"{entry.qualified_name} called on module `{index}` changed {outside}: only the " \
            "parameters the called module owns directly may change"
        changed_any = changed_any or bool(changed)
    before = _state(net)
    init(net)
    assert all(torch.equal(before[n], t) for n, t in _state(net).items()), \
        f"{entry.qualified_name} called on a container changed its children's parameters"
    assert changed_any, f"{entry.qualified_name} changed no parameter of a Linear or a Conv2d layer"


def _check_data_dependent(entry: RegisteredComponent, init: Any, net: Any) -> None:
    """``initialize(model, selected)`` changes the selected modules' own parameters and nothing else."""
    import torch

    before = _state(net)
    init.initialize(net, ["0", "4"])
    changed = {name for name in before if not torch.equal(before[name], _state(net)[name])}
    outside = sorted(name for name in changed if name.partition(".")[0] not in ("0", "4"))
    assert not outside, f"{entry.qualified_name}.initialize(model, ['0', '4']) changed {outside}: only the " \
        "selected modules' parameters may change"
    assert changed, f"{entry.qualified_name}.initialize changed no parameter of the selected layers"


def check_component(entry: RegisteredComponent, input_shape: Sequence[int], example: Mapping[str, Any] | None = None,
                    location: str = "") -> None:
    """Run the check of the component's kind (``location``: the data a dataset source reads).

    The kind's declaration (``flexzoo.plugin.kinds``) names its check, which receives the entry and whichever
    of ``input_shape``, ``example`` and ``location`` it declares.
    """
    check = resolve(kind_named(entry.kind).check)
    offered = {"input_shape": input_shape, "example": example, "location": location}
    check(entry, **{name: value for name, value in offered.items() if name in inspect.signature(check).parameters})


_LISTING = """
import importlib, json, sys
from flexzoo.host.registry import Registry
registry = Registry.from_modules({"plugin": importlib.import_module(sys.argv[1])})
print(json.dumps([sorted(m for m in sys.argv[2:] if m in sys.modules), len(registry.components())]))
"""


def check_listing_is_light(module: str, heavy: Sequence[str] = HEAVY_MODULES) -> None:
    """Importing the plugin and calling its registration hooks imports none of ``heavy`` (fresh process)."""
    import json

    result = subprocess.run([sys.executable, "-c", _LISTING, module, *heavy], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, f"listing {module} failed:\n{result.stderr}"
    imported, count = json.loads(result.stdout.strip().splitlines()[-1])
    assert count, f"{module} declares no component"
    assert not imported, f"listing {module} imported {imported}; import them inside the factories instead"
