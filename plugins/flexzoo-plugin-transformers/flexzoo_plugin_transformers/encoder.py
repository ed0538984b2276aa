"""The module around a transformers model: the host's batch in, pooled features out (imports torch)."""

from __future__ import annotations

import torch
from torch import nn


class Encoder(nn.Module):
    """A transformers base model (``self.model``) fed the batch as its main input, its output pooled to (B, F).

    Text encoders declare ``input_dtype = torch.int64``: they take token ids, and also floats that
    hold whole numbers (flexzoo's data and ``zoo predict`` carry float32), which are checked and
    converted.
    """

    def __init__(self, model: nn.Module, kind: str, pool: str = "auto") -> None:
        super().__init__()
        self.model = model
        self.kind = kind
        self.pool = pool
        if kind == "text":
            self.input_dtype = torch.int64

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind == "text" and x.is_meta:
            # The host's dry run: transformers reads the ids or the mask to check for padding, which a meta
            # tensor cannot give; the embedded ids take the same path with the same shapes.
            output = self.model(inputs_embeds=self.model.get_input_embeddings()(x.long()))
        elif self.kind == "text":
            ids = self.token_ids(x)  # every token is attended: the host's batches are not padded
            output = self.model(input_ids=ids, attention_mask=torch.ones_like(ids))
        else:
            output = self.model(**{self.model.main_input_name: x})
        return pooled(output, self.pool)

    def token_ids(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` as int64 token ids, refusing values that are not ids of this model's vocabulary."""
        if x.is_meta:
            return x.long()
        if x.is_floating_point():
            if not torch.equal(x, x.round()):
                raise ValueError("a text model takes token ids; the input holds values that are not whole numbers")
            x = x.long()
        vocab = getattr(self.model.config, "vocab_size", None)
        if x.numel() and (int(x.min()) < 0 or (isinstance(vocab, int) and int(x.max()) >= vocab)):
            raise ValueError(f"token ids must be in [0, {vocab}) for this model's vocabulary; "
                             f"the input has ids from {int(x.min())} to {int(x.max())}")
        return x


def pooled(output: object, pool: str) -> torch.Tensor:
    """(B, F) features from a transformers model output, as ``pool`` says (see the factory's ``pool``)."""
    hidden = output.last_hidden_state  # type: ignore[attr-defined]
    pooler = getattr(output, "pooler_output", None)
    if pool == "auto" and isinstance(pooler, torch.Tensor):
        return pooler.flatten(1)
    if pool == "first":
        if hidden.ndim != 3:
            raise ValueError(f"pool = \"first\" needs a sequence of tokens; this model's hidden state is "
                             f"{tuple(hidden.shape)} (use \"mean\")")
        return hidden[:, 0]
    return hidden.mean(dim=1) if hidden.ndim == 3 else hidden.flatten(2).mean(dim=2)
