"""What the checks feed a component: example arguments converted as the host converts them, a tiny model."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flexzoo.manifest import schema
from flexzoo.plugin.components import HOST_PARAMETERS, RegisteredComponent

#: Samples per batch the checks run.
BATCH = 2
#: One sample's shape for :func:`tiny_model` (a flat vector).
TINY_INPUT = (12,)


def declared(entry: RegisteredComponent) -> set[str]:
    """The names of the factory's parameters."""
    return {spec.name for spec in schema.parameters(entry.component.factory)}


def example_arguments(entry: RegisteredComponent, example: Mapping[str, Any] | None) -> dict[str, Any]:
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


def tiny_model(seed: int = 0) -> Any:
    """A model as the host assembles it (``backbone``, ``heads`` with one head ``out``), for :data:`TINY_INPUT`."""
    import torch

    from flexzoo.assembly.builder import ZooModel
    from flexzoo.builtin import backbones, heads

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return ZooModel(backbones.mlp(input_shape=TINY_INPUT, widths=[16, 8]), {"out": heads.linear(8, 3)}).eval()


def member_models(input_shape: tuple[int, ...], count: int = 2) -> list[Any]:
    """``count`` different models of one head ``out`` (3 classes) on ``input_shape``: an ensemble's members."""
    import torch

    from flexzoo.assembly.builder import ZooModel
    from flexzoo.builtin import backbones, heads

    members = []
    with torch.random.fork_rng(devices=[]):
        for seed in range(count):
            torch.manual_seed(seed)
            members.append(ZooModel(backbones.mlp(input_shape=input_shape, widths=[8]), {"out": heads.linear(8, 3)}))
    return [member.eval() for member in members]


class RandomTrainingData:
    """:class:`flexzoo.plugin.TrainingData` of normal random inputs (``count`` samples of ``shape``), no targets."""

    def __init__(self, shape: tuple[int, ...], count: int = 64, seed: int = 0) -> None:
        import torch

        self.inputs = torch.randn((count, *shape), generator=torch.Generator().manual_seed(seed))
        self.train_index = torch.arange(count - count // 4)
        self.validation_index = torch.arange(count - count // 4, count)
        self.fingerprint = f"random-{seed}"

    def batch(self, index: Any) -> tuple[Any, dict[str, Any]]:
        return self.inputs[index], {}


class DataOnlyHost:
    """A step host that serves :class:`RandomTrainingData` and refuses everything else."""

    def __init__(self, data: RandomTrainingData) -> None:
        self.data = data

    def training_data(self) -> RandomTrainingData:
        return self.data

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the check's host offers only training_data(), and the step asked for {name}()")


def data_context(shape: tuple[int, ...]) -> Any:
    """A :class:`flexzoo.plugin.StepContext` whose ``[train]`` data is random inputs of ``shape``."""
    from flexzoo.plugin.steps import StepContext

    return StepContext(input_shape=shape, base_dir=None, restoring=False, has_training_data=True,
                       host=DataOnlyHost(RandomTrainingData(shape)))
