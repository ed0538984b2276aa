"""Builtin fusions: how a model with several ``[inputs]`` joins its inputs' features before the heads.

A fusion is a backbone that declares ``branches``: the host builds one backbone per ``[inputs.<name>]``
(each on its own ``shape``) and passes them, with each one's feature size (``features``). The fused
model takes one tensor per input, in ``[inputs]`` order, or a dict keyed by input name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flexzoo.builtin.checks import Width
from flexzoo.plugin import Backbone

if TYPE_CHECKING:
    from torch import nn


def concat(branches: dict[str, Backbone], features: dict[str, int]) -> nn.Module:
    """The inputs' features side by side: (batch, sum of the branches' features).

    Args:
        branches: one backbone per [inputs.<name>], built by the host.
        features: each branch's feature size (from the host's dry run).
    """
    from flexzoo.builtin.fusion_layers import Concat

    return Concat(branches, features)


def add(branches: dict[str, Backbone], features: dict[str, int], width: Width = 64) -> nn.Module:
    """The inputs' features, each projected linearly to `width`, summed: (batch, width).

    Args:
        branches: one backbone per [inputs.<name>], built by the host.
        features: each branch's feature size (from the host's dry run).
        width: the size every branch is projected to, and the fused feature size.
    """
    from flexzoo.builtin.fusion_layers import Sum

    return Sum(branches, features, width)


def attention(branches: dict[str, Backbone], features: dict[str, int], width: Width = 64) -> nn.Module:
    """Attention over the inputs: each branch projected to `width`, weighted by a learned query per sample.

    The weights are a softmax over the inputs of each projection's score against the query, so the model
    learns, sample by sample, which input to listen to: (batch, width).

    Args:
        branches: one backbone per [inputs.<name>], built by the host.
        features: each branch's feature size (from the host's dry run).
        width: the size every branch is projected to, and the fused feature size.
    """
    from flexzoo.builtin.fusion_layers import Attention

    return Attention(branches, features, width)
