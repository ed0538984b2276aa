"""The modules behind the builtin ensemble components (imported when a factory is called: torch is loaded here)."""

from __future__ import annotations

import torch
from torch import nn

from flexzoo.plugin import Model

#: The smallest share whose log a combining head returns (keeps exported outputs finite).
TINY = 1e-12


class MemberProbabilities(nn.Module):
    """Each member's softmax, concatenated along the features; the members never leave eval mode."""

    def __init__(self, members: list[Model]) -> None:
        super().__init__()
        self.members = nn.ModuleList(members)
        self.members.eval()

    def train(self, mode: bool = True) -> MemberProbabilities:
        super().train(mode)
        self.members.eval()  # trained models: no dropout, no batch-norm statistics updated
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outputs = [next(iter(member(x).values())) for member in self.members]
        return torch.cat([torch.softmax(logits.float(), dim=-1) for logits in outputs], dim=-1)


class Mean(nn.Module):
    """The mean of the members' probabilities, as log-probabilities."""

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.num_classes = num_classes

    def per_member(self, probabilities: torch.Tensor) -> torch.Tensor:
        return probabilities.unflatten(-1, (-1, self.num_classes))

    def forward(self, probabilities: torch.Tensor) -> torch.Tensor:
        return self.per_member(probabilities).mean(dim=1).clamp_min(TINY).log()

    def extra_repr(self) -> str:
        return f"num_classes={self.num_classes}"


class Vote(Mean):
    """Each class's share of the members' votes, as log-shares; equal votes are ordered by mean probability."""

    def forward(self, probabilities: torch.Tensor) -> torch.Tensor:
        each = self.per_member(probabilities)
        votes = (each == each.amax(dim=-1, keepdim=True)).to(each.dtype).sum(dim=1)
        # a mean probability is below 1: it orders classes with equal votes and never outweighs a vote
        scores = votes + each.mean(dim=1)
        return (scores / scores.sum(dim=-1, keepdim=True)).clamp_min(TINY).log()
