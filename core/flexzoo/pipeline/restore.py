"""What ``flexzoo.load`` does to a rebuilt model's tensors: find the ones the file cannot replace, keep ties."""

from __future__ import annotations

from torch import nn

__all__ = ["retie", "tied_parameters", "unstored_meta_tensors"]


def unstored_meta_tensors(model: nn.Module) -> list[str]:
    """Meta tensors that loading the state dict would not replace (non-persistent buffers)."""
    stored = set(model.state_dict())
    return [name for name, tensor in [*model.named_parameters(), *model.named_buffers()]
            if tensor.is_meta and name not in stored]


def tied_parameters(model: nn.Module) -> dict[str, str]:
    """Each parameter name that aliases another parameter (tied weights), mapped to the first name."""
    first: dict[int, str] = {}
    aliases = {}
    for name, parameter in model.named_parameters(remove_duplicate=False):
        if id(parameter) in first:
            aliases[name] = first[id(parameter)]
        else:
            first[id(parameter)] = name
    return aliases


def retie(model: nn.Module, aliases: dict[str, str]) -> None:
    """Make tied parameters one tensor again after ``assign=True`` gave each name its own."""
    for alias, name in aliases.items():
        owner_name, _, leaf = alias.rpartition(".")
        setattr(model.get_submodule(owner_name), leaf, model.get_parameter(name))
