"""Write a small untrained CNN as an ONNX file with onnx.helper, as another framework would, for
examples/onnx_digits.toml (no torch involved):

    python examples/make_onnx_cnn.py digits_cnn.onnx

Input (N, 1, 8, 8); two 3x3 convolutions with ReLU, global average pooling, and a MatMul + Add to
32 features. The same seed always writes the same file.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def make_cnn(path: Path, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)

    def he(name: str, *shape: int) -> onnx.TensorProto:
        fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else shape[0]
        return numpy_helper.from_array((rng.standard_normal(shape) * np.sqrt(2 / fan_in)).astype(np.float32), name)

    def zeros(name: str, size: int) -> onnx.TensorProto:
        return numpy_helper.from_array(np.zeros(size, np.float32), name)

    nodes = [
        helper.make_node("Conv", ["x", "conv1.w", "conv1.b"], ["c1"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("Conv", ["r1", "conv2.w", "conv2.b"], ["c2"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c2"], ["r2"]),
        helper.make_node("GlobalAveragePool", ["r2"], ["pool"]),
        helper.make_node("Flatten", ["pool"], ["flat"]),
        helper.make_node("MatMul", ["flat", "proj.w"], ["proj"]),
        helper.make_node("Add", ["proj", "proj.b"], ["features"]),
    ]
    graph = helper.make_graph(
        nodes, "digits_cnn",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 8, 8])],
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["N", 32])],
        [he("conv1.w", 16, 1, 3, 3), zeros("conv1.b", 16), he("conv2.w", 32, 16, 3, 3), zeros("conv2.b", 32),
         numpy_helper.from_array((rng.standard_normal((32, 32)) / np.sqrt(32)).astype(np.float32), "proj.w"),
         zeros("proj.b", 32)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="make_onnx_cnn")
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path)
    make_cnn(parser.parse_args().path)
