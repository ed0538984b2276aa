"""Builtin ensemble parts: the members' class probabilities side by side, and heads that combine them.

The host builds each ``[ensemble]`` member from its stored manifest (with only the head being
combined) and hands the models to :func:`ensemble`. Its features are the members' softmax
probabilities, ``(batch, members × classes)``. The ``mean`` and ``vote`` heads have no parameters
and return log-probabilities, which every classification path of the host reads as logits
(softmax gives the combined probabilities back; argmax is the combined prediction). A ``linear``
head on the same features is stacking: trained on held-out data with the members frozen.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flexzoo.builtin.checks import Classes
from flexzoo.plugin import Model

if TYPE_CHECKING:
    from torch import nn


def ensemble(members: list[Model]) -> nn.Module:
    """The [ensemble] members' class probabilities, side by side: (batch, members × classes).

    Args:
        members: the member models, built by the host from [ensemble] members (each returns the head
            being combined); they stay in eval mode and are frozen while a stacking head trains.
    """
    from flexzoo.builtin.ensemble_layers import MemberProbabilities

    return MemberProbabilities(members)


def mean(in_features: int, num_classes: Classes) -> nn.Module:
    """Mean of the members' probabilities (soft voting); returns log-probabilities.

    Args:
        in_features: members × classes (from the ensemble backbone).
        num_classes: the members' classes.
    """
    _check_members(in_features, num_classes, "mean")
    from flexzoo.builtin.ensemble_layers import Mean

    return Mean(num_classes)


def vote(in_features: int, num_classes: Classes) -> nn.Module:
    """Majority vote of the members' predictions (ties go to the higher mean probability); returns log-shares.

    Args:
        in_features: members × classes (from the ensemble backbone).
        num_classes: the members' classes.
    """
    _check_members(in_features, num_classes, "vote")
    from flexzoo.builtin.ensemble_layers import Vote

    return Vote(num_classes)


def _check_members(in_features: int, num_classes: int, name: str) -> None:
    if in_features % num_classes:
        raise ValueError(f"{name} combines the class probabilities of ensemble members, so its input "
                         f"({in_features} features) must be a multiple of num_classes = {num_classes}")
