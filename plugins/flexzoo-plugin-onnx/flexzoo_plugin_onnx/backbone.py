"""The ONNX backbone factory (cheap to import: onnx, onnx2torch and torch load when it is called)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flexzoo.plugin import ParameterError

if TYPE_CHECKING:
    from torch import nn


def onnx_backbone(
    path: str,
    input_shape: tuple[int, ...],
    output: str | None = None,
    sha256: str | None = None,
) -> nn.Module:
    """Any .onnx file as a trainable backbone, converted to torch by onnx2torch: (B, *input_shape) to (B, F).

    Outputs with more than two dimensions are flattened to (B, F). The artifact stores the trained
    weights and the file's sha256; flexzoo.load reads the graph from the same file again and refuses
    it, naming it, when it changed.

    Args:
        path: the .onnx file; relative paths are from the working directory; it must stay where it is
            for the artifact to load.
        input_shape: one sample's shape, from [model] input_shape; must fit the graph's input.
        output: the tensor the features are: one of the graph's outputs, or an inner tensor's name
            (the graph is cut there, e.g. before a classifier); None: the graph's only output.
        sha256: the file's expected sha256 (hex); when given, another file is refused at build.
    """
    import torch

    from flexzoo_plugin_onnx.graph import read_onnx
    from flexzoo_plugin_onnx.module import OnnxBackbone

    found = read_onnx(path, tuple(input_shape), output, sha256)
    with torch.device("cpu"):  # onnx2torch copies the constants into modules; on meta it cannot
        graph = _convert(found.model, found.path)
        return OnnxBackbone(graph, found.sha256, str(found.path))


def _convert(model, file) -> nn.Module:
    from onnx2torch import convert

    try:
        return convert(model)
    except NotImplementedError as exc:
        raise ParameterError("path", f"onnx2torch cannot convert {file}: {exc}",
                             "re-export the model without that operator, or at another opset") from None
