"""The conformance kit fails components that break the host's contract, saying what to fix."""

from __future__ import annotations

import pytest
import torch

from flexzoo.components import Component, RegisteredComponent
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


def drop_heads():
    """Returns only the backbone."""
    return lambda model: model.backbone


def test_compressor_check_wants_a_model_that_still_runs_the_same_way():
    with pytest.raises(AssertionError, match="returns Tensor, not the dict of head outputs"):
        check_compressor(entry("compressor", drop_heads))


class LeavesGroup:
    def setup(self) -> None:
        import torch.distributed as dist

        dist.init_process_group("gloo")

    def wrap(self, model):
        return model

    def teardown(self) -> None:
        pass


def leaky():
    """Forgets to destroy its process group."""
    return LeavesGroup()


def test_strategy_check_refuses_a_teardown_that_leaves_a_process_group():
    import torch.distributed as dist

    try:
        with pytest.raises(AssertionError, match="teardown\\(\\) left a process group behind"):
            check_strategy(entry("strategy", leaky))
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
