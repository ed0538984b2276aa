"""The nn.Module around a converted ONNX graph (imports torch)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from flexzoo.plugin import ArtifactError

#: The buffer that carries the .onnx file's sha256 into the artifact (covered by its weights hash).
DIGEST = "onnx_sha256"


class OnnxBackbone(nn.Module):
    """An onnx2torch graph as a backbone: its one output, flattened to (B, F).

    An ONNX file does not say which of its tensors are weights, so every floating-point constant
    with more than one element becomes a trainable parameter (convolution and Gemm weights already
    are); scalar constants (epsilons, exponents) and integer ones (shapes, indices) stay buffers.

    The file's sha256 is a buffer, stored with the weights; loading a state dict that carries another
    one (an artifact built from a different file) is refused, naming the file.
    """

    def __init__(self, graph: nn.Module, sha256: str, source: str) -> None:
        super().__init__()
        self.graph = graph
        self.source = source
        self.sha256 = sha256
        self.register_buffer(DIGEST, torch.tensor(list(bytes.fromhex(sha256)), dtype=torch.uint8))
        _constants_to_parameters(getattr(graph, "initializers", None))
        self._register_load_state_dict_pre_hook(self._refuse_another_file)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.is_meta and not self._on_meta():
            # The host's dry run: onnx2torch's modules read some constants (shapes) as Python values,
            # which meta tensors cannot give, so the output's shape comes from a pass on zeros.
            with torch.device("cpu"), torch.no_grad():
                out = self.graph(torch.zeros(x.shape, dtype=x.dtype))
            return torch.empty((out.shape[0], out[0].numel()), dtype=out.dtype, device="meta")
        out = self.graph(x)
        return out.flatten(1) if out.ndim > 2 else out

    def _on_meta(self) -> bool:
        return any(t.is_meta for t in self.parameters())

    def _refuse_another_file(self, state_dict: dict[str, Any], prefix: str, *args: Any) -> None:
        stored = state_dict.get(prefix + DIGEST)
        if stored is None or stored.is_meta:
            return
        digest = bytes(stored.to("cpu", torch.uint8).tolist()).hex()
        if digest != self.sha256:
            raise ArtifactError(f"the weights were made from an ONNX file with sha256 {digest[:12]}…, but "
                                f"{self.source} now has sha256 {self.sha256[:12]}…: the file changed since; restore "
                                "the file the model was built from, or rebuild the model from the new one")


def _constants_to_parameters(initializers: nn.Module | None) -> None:
    """Make onnx2torch's floating-point constants (kept as buffers) trainable parameters."""
    if initializers is None:
        return
    for name, tensor in list(initializers.named_buffers(recurse=False)):
        if tensor.is_floating_point() and tensor.numel() > 1:
            delattr(initializers, name)
            initializers.register_parameter(name, nn.Parameter(tensor))
