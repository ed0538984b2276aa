"""The conformance kit fails components that break the host's contract, saying what to fix."""

from __future__ import annotations

import pytest
import torch

from flexzoo.plugin import FeatureMap, SingleProcess, StepContext
from flexzoo.plugin.components import Component, RegisteredComponent
from flexzoo.testing import check_backbone, check_compressor, check_initializer, check_schema, check_strategy


def entry(kind: str, factory) -> RegisteredComponent:
    return RegisteredComponent(kind=kind, plugin="bad", component=Component("thing", factory))


def undocumented(input_shape: tuple[int, ...], width: int = 4) -> torch.nn.Module:
    """A backbone whose width is not documented.

    Args:
        input_shape: one sample's shape.
    """
    return torch.nn.Flatten()


def untyped(input_shape: tuple[int, ...], width=4) -> torch.nn.Module:
    """A backbone whose width has no type.

    Args:
        input_shape: one sample's shape.
        width: features.
    """
    return torch.nn.Flatten()


def bad_default(input_shape: tuple[int, ...], width: int = 0.5) -> torch.nn.Module:
    """A backbone whose default is not an int.

    Args:
        input_shape: one sample's shape.
        width: features.
    """
    return torch.nn.Flatten()


@pytest.mark.parametrize(("factory", "message"), [
    (undocumented, "`width` is not documented"),
    (untyped, "`width` has no type annotation"),
    (bad_default, "the default of `width`, 0.5, is not a int"),
])
def test_schema_check_names_the_parameter(factory, message):
    with pytest.raises(AssertionError, match=message):
        check_schema(entry("backbone", factory))


def unpooled(input_shape: tuple[int, ...]) -> torch.nn.Module:
    """Returns maps, not features.

    Args:
        input_shape: one sample's shape.
    """
    return torch.nn.Conv2d(input_shape[0], 2, 1)


def test_backbone_check_wants_batch_by_features():
    with pytest.raises(AssertionError, match=r"features must be \(batch, F\)"):
        check_backbone(entry("backbone", unpooled), (1, 4, 4))


class MisdeclaredMaps(torch.nn.Module):
    """Pooled features, or one map that has 3 channels where it declares 5."""

    def __init__(self, channels: int, maps: bool) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(channels, 3, 3, stride=2, padding=1)
        self.feature_maps = (FeatureMap("half", 5, 2),) if maps else ()

    def forward(self, x: torch.Tensor):
        y = self.conv(x)
        return {"half": y} if self.feature_maps else y.mean(dim=(2, 3))


def misdeclared_maps(input_shape: tuple[int, ...], returns: str = "pooled") -> torch.nn.Module:
    """A backbone whose map has fewer channels than it declares.

    Args:
        input_shape: one sample's shape.
        returns: pooled features or maps (set by the host).
    """
    return MisdeclaredMaps(input_shape[0], returns == "maps")


def test_backbone_check_holds_maps_to_their_declared_channels():
    with pytest.raises(AssertionError, match=r"map `half` declares 5 channels at stride 2, so \(2, 5, ~8/2, ~8/2\) "
                                             r"for input \[1, 8, 8\]; got \[2, 3, 4, 4\]"):
        check_backbone(entry("backbone", misdeclared_maps), (1, 8, 8))


def reckless(value: float = 1.0):
    """Fills every parameter it can reach, children included.

    Args:
        value: the value.
    """
    def init(module: torch.nn.Module) -> None:
        with torch.no_grad():
            for parameter in module.parameters():
                parameter.fill_(value)

    return init


def test_initializer_check_refuses_changes_outside_the_called_module():
    with pytest.raises(AssertionError, match="called on a container changed its children's parameters"):
        check_initializer(entry("initializer", reckless))


def idle():
    """Does nothing."""
    return lambda module: None


def test_initializer_check_refuses_an_initializer_that_changes_nothing():
    with pytest.raises(AssertionError, match="changed no parameter"):
        check_initializer(entry("initializer", idle))


class Shrinks:
    """Halves every weight and records the factor, but cannot restore from the record."""

    def __call__(self, model: torch.nn.Module) -> torch.nn.Module:
        with torch.no_grad():
            for parameter in model.parameters():
                parameter.mul_(0.5)
        return model

    def record(self) -> dict:
        return {"factor": 0.5}


def record_only():
    """Records without restoring."""
    return Shrinks()


def test_compressor_check_refuses_a_record_without_restore():
    with pytest.raises(AssertionError, match=r"has record\(\) but no restore\(model, record\).*add restore\(\)"):
        check_compressor(entry("compressor", record_only))


class PacksOnly(Shrinks):
    def record(self) -> dict:  # restorable, so that only the packing is wrong
        return {}

    def restore(self, model: torch.nn.Module, record: dict) -> torch.nn.Module:
        return model

    def pack(self, state):
        return state, {}


def pack_only():
    """Packs without unpacking."""
    return PacksOnly()


def test_compressor_check_wants_pack_and_unpack_together():
    with pytest.raises(AssertionError, match=r"has pack\(\) but not unpack\(\).*add both"):
        check_compressor(entry("compressor", pack_only))


class FactorsByValue:
    """Factorizes the head through as many units as it has positive weights: a structure the weights decide."""

    def __call__(self, model: torch.nn.Module) -> torch.nn.Module:
        weight = next(model.heads["out"].parameters())
        rank = int((weight > 0).sum())
        model.heads["out"] = torch.nn.Sequential(torch.nn.Linear(weight.shape[1], rank),
                                                 torch.nn.Linear(rank, weight.shape[0]))
        return model


def prune_by_value():
    """A data-dependent structure replayed on load (no record, no restore)."""
    return FactorsByValue()


def test_compressor_check_rebuilds_the_model_as_load_does():
    with pytest.raises(AssertionError, match="the model rebuilt by replaying the step on a fresh model"):
        check_compressor(entry("compressor", prune_by_value))


def with_context(context: StepContext, amount: float = 0.5):
    """Reads its context.

    Args:
        context: the host's step context.
        amount: unused.
    """
    assert context.input_shape == (12,) and not context.has_training_data
    return lambda model: model


def test_compressor_check_gives_a_declared_context():
    check_compressor(entry("compressor", with_context))


def drop_heads():
    """Returns only the backbone."""
    return lambda model: model.backbone


def test_compressor_check_wants_the_backbone_and_heads_layout():
    with pytest.raises(AssertionError, match="the compressed model lost its `backbone` or `heads`"):
        check_compressor(entry("compressor", drop_heads))


class LeavesGroup(SingleProcess):
    def setup(self) -> None:
        import torch.distributed as dist

        dist.init_process_group("gloo")


def leaky():
    """Forgets to destroy its process group."""
    return LeavesGroup()


class ThreadsOnly:
    """A strategy with only the members the kit used to check."""

    def setup(self) -> None:
        pass

    def wrap(self, model):
        return model

    def teardown(self) -> None:
        pass


def partial():
    """Sets up, wraps and tears down, and nothing else."""
    return ThreadsOnly()


def test_strategy_check_names_every_method_the_trainer_calls():
    with pytest.raises(AssertionError, match=r"has no all_reduce\(\), model_state\(\), optimizer_state\(\), "
                                             r"load_optimizer_state\(\).*subclass flexzoo.plugin.SingleProcess"):
        check_strategy(entry("strategy", partial))


class NoWorldSize(SingleProcess):
    def __getattribute__(self, name):
        if name == "world_size":
            raise AttributeError(name)
        return super().__getattribute__(name)


def no_world_size():
    """Everything but world_size."""
    return NoWorldSize()


def test_strategy_check_refuses_a_strategy_without_world_size():
    with pytest.raises(AssertionError, match=r"has no `world_size`; the trainer reads rank, world_size and "
                                             r"local_rank after setup\(\).*subclass flexzoo.plugin.SingleProcess"):
        check_strategy(entry("strategy", no_world_size))


class ForgetsMomentum(SingleProcess):
    def load_optimizer_state(self, wrapped, optimizer, state) -> None:
        pass


def forgetful():
    """Does not restore the optimizer's state."""
    return ForgetsMomentum()


def test_strategy_check_wants_the_optimizer_state_round_trip():
    with pytest.raises(AssertionError, match=r"load_optimizer_state\(\) did not restore"):
        check_strategy(entry("strategy", forgetful))


def test_strategy_check_passes_the_single_process_base():
    check_strategy(entry("strategy", SingleProcess))


@pytest.mark.processes
def test_strategy_check_refuses_a_teardown_that_leaves_a_process_group():
    import torch.distributed as dist

    try:
        with pytest.raises(AssertionError, match="teardown\\(\\) left a process group behind"):
            check_strategy(entry("strategy", leaky))
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
