"""ONNX files for the tests: one written with onnx.helper, one exported by flexzoo itself."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def helper_cnn(path: Path, seed: int = 0, channels: int = 8) -> Path:
    """A small CNN written node by node with onnx.helper (no torch): Conv, Relu, GlobalAveragePool, Flatten,
    MatMul + Add to 16 features, and a classifier Gemm to 10 logits. Input (N, 1, 8, 8), dynamic N."""
    rng = np.random.default_rng(seed)

    def constant(name: str, *shape: int, scale: float = 0.3) -> onnx.TensorProto:
        return numpy_helper.from_array((rng.standard_normal(shape) * scale).astype(np.float32), name)

    nodes = [
        helper.make_node("Conv", ["x", "conv.w", "conv.b"], ["conv"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["conv"], ["relu"]),
        helper.make_node("GlobalAveragePool", ["relu"], ["pool"]),
        helper.make_node("Flatten", ["pool"], ["flat"]),
        helper.make_node("MatMul", ["flat", "proj.w"], ["proj"]),
        helper.make_node("Add", ["proj", "proj.b"], ["features"]),
        helper.make_node("Gemm", ["features", "fc.w", "fc.b"], ["logits"], transB=1),
    ]
    graph = helper.make_graph(
        nodes, "helper_cnn",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 8, 8])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10])],
        [constant("conv.w", channels, 1, 3, 3), constant("conv.b", channels), constant("proj.w", channels, 16),
         constant("proj.b", 16), constant("fc.w", 10, 16), constant("fc.b", 10)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="onnx.helper")
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path
