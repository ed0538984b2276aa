"""One check per promise the host relies on; each raises AssertionError saying what to fix."""

from __future__ import annotations

import contextlib
import importlib
import inspect
import os
import socket
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from flexzoo import schema
from flexzoo.components import HOST_PARAMETERS, RegisteredComponent
from flexzoo.registry import Registry

#: Modules a plugin's registration must not import.
HEAVY_MODULES: tuple[str, ...] = ("torch", "timm", "numpy", "safetensors")
_BATCH = 2


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
        assert "in_features" in names, f"{where}: a head factory must take `in_features: int`"
    for spec in schema.parameters(factory):
        assert spec.annotation is not None, f"{where}: `{spec.name}` has no type annotation " \
            "(the annotation is the type a manifest is checked against)"
        assert spec.doc, f"{where}: `{spec.name}` is not documented (add it to the docstring's Args: block)"
        if not spec.required:
            assert schema.matches(schema.to_toml(spec.default), spec.annotation), \
                f"{where}: the default of `{spec.name}`, {spec.default!r}, is not a {spec.type_text}"
            broken = schema.violations(schema.to_toml(spec.default), spec.annotation, spec.name)
            assert not broken, f"{where}: the default breaks its own constraint: {'; '.join(broken)}"


def _arguments(entry: RegisteredComponent, example: Mapping[str, Any] | None) -> dict[str, Any]:
    """The example's values, checked and converted as the host converts manifest values."""
    example = example or {}
    host = HOST_PARAMETERS.get(entry.kind, {})
    specs = {s.name: s for s in schema.parameters(entry.component.factory)}
    unknown = sorted(set(example) - set(specs))
    assert not unknown, f"{entry.qualified_name}: example sets unknown parameters {unknown}"
    missing = [n for n, s in specs.items() if s.required and n not in host and n not in example]
    assert not missing, f"{entry.qualified_name}: give example values for the required parameters {missing} " \
        f"(examples = {{{entry.kind!r}: {{{entry.name!r}: {{...}}}}}})"
    for name, value in example.items():
        assert schema.matches(value, specs[name].annotation), \
            f"{entry.qualified_name}: example `{name}` = {value!r} is not a {specs[name].type_text}"
        broken = schema.violations(value, specs[name].annotation, name)
        assert not broken, f"{entry.qualified_name}: example {'; '.join(broken)}"
    return {name: schema.to_python(value, specs[name].annotation) for name, value in example.items()}


def check_backbone(entry: RegisteredComponent, input_shape: Sequence[int], example: Mapping[str, Any] | None = None
                   ) -> int:
    """The backbone builds and maps (B, *input_shape) to (B, F); returns F, matching ``num_features`` if set."""
    import torch

    kwargs = _arguments(entry, example)
    if "input_shape" in {s.name for s in schema.parameters(entry.component.factory)}:
        kwargs["input_shape"] = tuple(input_shape)
    module = entry.component.factory(**kwargs).eval()
    assert isinstance(module, torch.nn.Module), f"{entry.qualified_name} returned {type(module).__name__}, not a Module"
    with torch.no_grad():
        features = module(torch.randn(_BATCH, *input_shape))
    assert isinstance(features, torch.Tensor) and features.ndim == 2 and features.shape[0] == _BATCH, \
        f"{entry.qualified_name}: features must be (batch, F), got {getattr(features, 'shape', type(features))}"
    size = int(features.shape[1])
    reported = getattr(module, "num_features", None)
    if isinstance(reported, int):
        assert reported == size, f"{entry.qualified_name}: num_features says {reported}, the output has {size}"
    return size


def check_head(entry: RegisteredComponent, in_features: int = 8, example: Mapping[str, Any] | None = None
               ) -> None:
    """The head builds for ``in_features`` and maps (B, in_features) to a batch of outputs."""
    import torch

    module = entry.component.factory(in_features=in_features, **_arguments(entry, example)).eval()
    with torch.no_grad():
        out = module(torch.randn(_BATCH, in_features))
    assert isinstance(out, torch.Tensor) and out.shape[0] == _BATCH, \
        f"{entry.qualified_name}: output must be a tensor with the batch first, got {getattr(out, 'shape', out)}"


def _state(module: Any) -> dict[str, Any]:
    return {name: t.detach().clone() for name, t in [*module.named_parameters(), *module.named_buffers()]}


def check_initializer(entry: RegisteredComponent, example: Mapping[str, Any] | None = None) -> None:
    """The initializer changes parameters of the module it is called on, and nothing else."""
    import torch
    from torch import nn

    init = entry.component.factory(**_arguments(entry, example))
    assert callable(init), f"{entry.qualified_name} must return a callable init(module)"
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(2, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.LazyLinear(5), nn.Linear(5, 3))
    net(torch.randn(1, 2, 5, 5))
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


def _tiny_model() -> Any:
    from flexzoo.assembly import ZooModel
    from flexzoo.builtin import backbones, heads

    return ZooModel(backbones.mlp(input_shape=(12,), widths=[16, 8]), {"out": heads.linear(8, 3)}).eval()


def check_compressor(entry: RegisteredComponent, example: Mapping[str, Any] | None = None) -> None:
    """The compressed model still runs on the same input and gives outputs of the same shapes."""
    import torch

    model, x = _tiny_model(), torch.randn(4, 12)
    with torch.no_grad():
        expected = {k: v.shape for k, v in model(x).items()}
    kwargs = _arguments(entry, example)
    if "input_shape" in {s.name for s in schema.parameters(entry.component.factory)}:
        kwargs["input_shape"] = (12,)  # the host fills it from [model] input_shape
    compressed = entry.component.factory(**kwargs)(model)
    assert isinstance(compressed, torch.nn.Module), f"{entry.qualified_name} must return a Module"
    with torch.no_grad():
        out = compressed(x)
    assert isinstance(out, dict), \
        f"{entry.qualified_name}: the compressed model returns {type(out).__name__}, not the dict of head outputs"
    got = {k: v.shape for k, v in out.items()}
    assert got == expected, f"{entry.qualified_name}: outputs changed shape: {expected} became {got}"


@contextlib.contextmanager
def _single_process_env() -> Iterator[None]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    wanted = {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "RANK": "0", "WORLD_SIZE": "1",
              "LOCAL_RANK": "0", "LOCAL_WORLD_SIZE": "1"}
    saved = {k: os.environ.get(k) for k in wanted}
    os.environ.update({k: v for k, v in wanted.items() if saved[k] is None})
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)


def check_strategy(entry: RegisteredComponent, example: Mapping[str, Any] | None = None) -> None:
    """The strategy sets up, wraps a model that still runs, and tears down, in one process."""
    import torch

    strategy = entry.component.factory(**_arguments(entry, example))
    for method in ("setup", "wrap", "teardown"):
        assert callable(getattr(strategy, method, None)), f"{entry.qualified_name}: the strategy has no {method}()"
    with _single_process_env():
        strategy.setup()
        try:
            wrapped = strategy.wrap(_tiny_model())
            with torch.no_grad():
                out = wrapped(torch.randn(4, 12))
            assert set(out) == {"out"}, f"{entry.qualified_name}: the wrapped model's outputs changed"
        finally:
            strategy.teardown()
    distributed = sys.modules.get("torch.distributed")
    assert not (distributed and distributed.is_available() and distributed.is_initialized()), \
        f"{entry.qualified_name}: teardown() left a process group behind"


def check_component(entry: RegisteredComponent, input_shape: Sequence[int], example: Mapping[str, Any] | None = None
                    ) -> None:
    """Run the check of the component's kind."""
    if entry.kind == "backbone":
        check_backbone(entry, input_shape, example)
    elif entry.kind == "head":
        check_head(entry, 8, example)
    elif entry.kind == "initializer":
        check_initializer(entry, example)
    elif entry.kind == "compressor":
        check_compressor(entry, example)
    else:
        check_strategy(entry, example)


_LISTING = """
import importlib, json, sys
from flexzoo.registry import Registry
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
