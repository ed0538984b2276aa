"""Reading an ``.onnx`` file and preparing its graph for onnx2torch (imports onnx, not torch).

The file is read once: its bytes give the sha256 that the built module carries, and the graph.
Preparing the graph changes no result: the features are cut at the tensor ``output`` names, a
graph newer than onnx2torch's opsets is converted down to :data:`OPSET`, and ``Reshape``'s
``allowzero`` flag, which onnx2torch refuses, is dropped where the target shape is a constant
with no zero in it (the only case in which the flag changes nothing).
"""

from __future__ import annotations

import difflib
import hashlib
from dataclasses import dataclass
from pathlib import Path

import onnx
from onnx import numpy_helper

from flexzoo.plugin import ParameterError

#: The newest default-domain opset onnx2torch converts every operator of.
OPSET = 17


@dataclass(frozen=True)
class OnnxFile:
    """A read ``.onnx`` file: where it was, its sha256, and its graph prepared for conversion."""

    path: Path
    sha256: str
    model: onnx.ModelProto
    input_name: str
    output_name: str


def read_onnx(path: str, input_shape: tuple[int, ...], output: str | None, sha256: str | None) -> OnnxFile:
    """Read, check and prepare the graph at ``path``; every refusal names the parameter to change."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise ParameterError("path", f"{file}: no such file",
                             "give the path of an .onnx file (relative paths are from the working directory)")
    data = file.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if sha256 is not None and sha256.lower() != digest:
        raise ParameterError("sha256", f"is {sha256}, but {file} has sha256 {digest}",
                             "the file changed: use the file you meant, or update sha256")
    try:
        model = onnx.load_from_string(data)
        onnx.checker.check_model(model)
    except Exception as exc:  # onnx raises protobuf's DecodeError and its own ValidationError
        raise ParameterError("path", f"{file} is not a valid ONNX model: {_first_line(exc)}") from None
    input_name = _single_input(model, file, input_shape)
    model = _newest_convertible(model, file)
    output_name = _chosen_output(model, output)
    if [o.name for o in model.graph.output] != [output_name]:
        model = onnx.utils.Extractor(onnx.shape_inference.infer_shapes(model)).extract_model([input_name],
                                                                                            [output_name])
    _drop_needless_allowzero(model)
    return OnnxFile(file, digest, model, input_name, output_name)


def _single_input(model: onnx.ModelProto, file: Path, input_shape: tuple[int, ...]) -> str:
    """The graph's one input (initializers listed as inputs do not count), checked against input_shape."""
    constants = {tensor.name for tensor in model.graph.initializer}
    inputs = [value for value in model.graph.input if value.name not in constants]
    if len(inputs) != 1:
        raise ParameterError("path", f"{file} has {len(inputs)} inputs ({', '.join(v.name for v in inputs)}); "
                             "a backbone takes one batch of samples")
    dims = [d.dim_value if d.HasField("dim_value") else None for d in inputs[0].type.tensor_type.shape.dim]
    fixed = dims[1:]
    if len(fixed) != len(input_shape) or any(d is not None and d != s for d, s in zip(fixed, input_shape)):
        shown = ["?" if d is None else d for d in fixed]
        raise ParameterError("input_shape", f"is {list(input_shape)}, but {file} takes samples of shape {shown} "
                             f"(input {inputs[0].name!r}, after the batch dimension)",
                             "set [model] input_shape to the shape the ONNX model takes")
    return inputs[0].name


def _newest_convertible(model: onnx.ModelProto, file: Path) -> onnx.ModelProto:
    """The model at opset :data:`OPSET` when it is newer (exporters write 18 and later)."""
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), OPSET)
    if opset <= OPSET:
        return model
    from onnx import version_converter

    try:
        return version_converter.convert_version(model, OPSET)
    except Exception as exc:
        raise ParameterError("path", f"{file} uses opset {opset}, and converting it to opset {OPSET} for onnx2torch "
                             f"failed: {_first_line(exc)}", f"export it with opset {OPSET} or older") from None


def _chosen_output(model: onnx.ModelProto, output: str | None) -> str:
    """The tensor the features are: ``output``, or the graph's only output."""
    outputs = [o.name for o in model.graph.output]
    produced = [name for node in model.graph.node for name in node.output if name]
    if output is None:
        if len(outputs) == 1:
            return outputs[0]
        raise ParameterError("output", f"must name the features: the graph has {len(outputs)} outputs "
                             f"({', '.join(outputs)})", _output_hint(model))
    if output not in produced:
        near = difflib.get_close_matches(output, produced, n=3)
        raise ParameterError("output", f"{output!r} is no tensor of the graph",
                             f"did you mean {', '.join(map(repr, near))}?" if near else _output_hint(model))
    return output


def _output_hint(model: onnx.ModelProto) -> str:
    """Point at what the first output's Gemm or MatMul takes: the features before a classifier."""
    outputs = [o.name for o in model.graph.output]
    matmuls = [n for n in model.graph.node if n.op_type in ("Gemm", "MatMul")]
    last = min((n for n in matmuls if n.output[0] in outputs), key=lambda n: outputs.index(n.output[0]),
               default=matmuls[-1] if matmuls else None)
    if last is None:
        return "set output to one of the graph's outputs or to an inner tensor's name"
    return f"set output to one of them, or to {last.input[0]!r} (what the {last.op_type} making " \
           f"{last.output[0]!r} takes: the features before a classifier)"


def _drop_needless_allowzero(model: onnx.ModelProto) -> None:
    """Remove ``allowzero = 1`` from Reshapes whose constant target shape has no zero (it changes nothing there)."""
    constants = {t.name: t for t in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
            constants[node.output[0]] = node.attribute[0].t
    for node in model.graph.node:
        if node.op_type != "Reshape" or len(node.input) < 2 or node.input[1] not in constants:
            continue
        if 0 in numpy_helper.to_array(constants[node.input[1]]).tolist():
            continue
        kept = [a for a in node.attribute if a.name != "allowzero"]
        del node.attribute[:]
        node.attribute.extend(kept)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
