"""Exporting a model to ONNX, TorchScript or a torch.export program, each checked after writing.

Every format gets a dynamic batch axis and one named output per head (in manifest order); a model of
several ``[inputs]`` gets one named input per input, in their order (else the one input is ``input``). The
written file is loaded back (ONNX by onnxruntime) and run on a batch of a different size than the
one traced; the largest absolute difference from the eager model is reported, and an export whose
difference exceeds the tolerance is refused (the file is not left behind).
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from flexzoo.atomic import write_atomically
from flexzoo.errors import FlexzooError
from flexzoo.inputs.dtypes import example_input, input_dtype
from flexzoo.manifest.validation import DEFAULT_OPSET, EXPORT_TOLERANCE

SUFFIXES = {"onnx": ".onnx", "torchscript": ".torchscript.pt", "exported-program": ".pt2"}
_TRACE_BATCH, _CHECK_BATCH = 2, 3


class ExportError(FlexzooError):
    """An export failed or its result does not match the model."""


@dataclass(frozen=True)
class ExportResult:
    format: str
    path: Path
    outputs: list[str]
    max_abs_diff: float
    checked_with: str

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "path": str(self.path)}


class HeadOutputs(nn.Module):
    """The model with its dict of head outputs as a tuple, in head order: one named output per head."""

    def __init__(self, model: nn.Module, names: list[str] | None = None) -> None:
        super().__init__()
        self.model = model
        self.names = names if names is not None else list(model.heads)

    def forward(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        outputs = self.model(*inputs)
        return tuple(outputs[name] for name in self.names)


class NamedInputs(nn.Module):
    """A model of several inputs taking them as positional tensors, in ``[inputs]`` order (what tracing needs)."""

    def __init__(self, model: nn.Module, names: list[str]) -> None:
        super().__init__()
        self.model = model
        self.names = names

    def forward(self, *inputs: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.model(dict(zip(self.names, inputs)))


def _samples(shapes: dict[str, tuple[int, ...]], batch: int, dtype: torch.dtype) -> tuple[torch.Tensor, ...]:
    generator = torch.Generator().manual_seed(batch)
    return tuple(example_input(shape, batch, dtype, generator) for shape in shapes.values())


def _dynamic_batch(count: int) -> tuple[dict[int, Any], ...]:
    batch = torch.export.Dim("batch", min=1, max=1 << 16)
    return tuple({0: batch} for _ in range(count))


def _write_onnx(wrapped: HeadOutputs, example: tuple[torch.Tensor, ...], path: Path, opset: int,
                names: list[str]) -> None:
    torch.onnx.export(wrapped, example, str(path), dynamo=True, opset_version=opset, input_names=names,
                      output_names=wrapped.names, dynamic_shapes=(_dynamic_batch(len(example)),), external_data=False,
                      verbose=False)


def onnx_session_options() -> Any:
    """onnxruntime session options that share the CPU the way torch does: as many intra-op threads as
    ``torch.get_num_threads()`` (so ``OMP_NUM_THREADS``/``torch.set_num_threads`` bound both alike), operators
    run one after another, and no thread left spinning after a run. onnxruntime's default keeps its workers
    spinning on every core between runs; in a server they burn the CPU the requests are parsed on.
    """
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    options.inter_op_num_threads = 1
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    return options


def _open_onnx(path: Path) -> Callable[..., list[torch.Tensor]]:
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), onnx_session_options(), providers=["CPUExecutionProvider"])
    names = [output.name for output in session.get_outputs()]
    inputs = [entry.name for entry in session.get_inputs()]
    return lambda *x: [torch.from_numpy(value) for value in
                       session.run(names, {name: t.numpy() for name, t in zip(inputs, x)})]


def _write_torchscript(wrapped: HeadOutputs, example: tuple[torch.Tensor, ...], path: Path, opset: int,
                       names: list[str]) -> None:
    traced = torch.jit.trace(wrapped, example, check_trace=False)
    torch.jit.save(traced, str(path))


def _open_torchscript(path: Path) -> Callable[..., list[torch.Tensor]]:
    module = torch.jit.load(str(path))
    return lambda *x: list(module(*x))


def _write_program(wrapped: HeadOutputs, example: tuple[torch.Tensor, ...], path: Path, opset: int,
                   names: list[str]) -> None:
    buffer = io.BytesIO()  # torch.export.save wants a .pt2 name; the partial file has another
    program = torch.export.export(wrapped, example, dynamic_shapes=(_dynamic_batch(len(example)),))
    torch.export.save(program, buffer)
    path.write_bytes(buffer.getvalue())


def _open_program(path: Path) -> Callable[..., list[torch.Tensor]]:
    module = torch.export.load(io.BytesIO(path.read_bytes())).module()
    return lambda *x: list(module(*x))


_Opener = Callable[[Path], Callable[..., list[torch.Tensor]]]
_FORMATS: dict[str, tuple[Callable[..., None], _Opener, str]] = {
    "onnx": (_write_onnx, _open_onnx, "onnxruntime"),
    "torchscript": (_write_torchscript, _open_torchscript, "torch.jit.load"),
    "exported-program": (_write_program, _open_program, "torch.export.load"),
}


def open_export(format: str, path: str | Path) -> Callable[..., list[torch.Tensor]]:
    """Load a written export once (ONNX into an onnxruntime session); the callable runs it on a batch (one
    tensor per input, in order, for a model of several) and returns one tensor per head, in head order."""
    if format not in _FORMATS:
        raise ExportError(f"unknown export format `{format}`; formats: {', '.join(_FORMATS)}")
    return _FORMATS[format][1](Path(path))


def export(model: nn.Module, input_shape: tuple[int, ...] | dict[str, tuple[int, ...]], format: str,
           target: str | Path, *, opset: int = DEFAULT_OPSET, tolerance: float = EXPORT_TOLERANCE) -> ExportResult:
    """Write ``model`` in ``format`` to ``target`` atomically, after checking the written file.

    ``input_shape`` is one sample's shape, or for a model of several inputs each one's shape by input
    name: the export then takes one named input per entry, in order.
    """
    if format not in _FORMATS:
        raise ExportError(f"unknown export format `{format}`; formats: {', '.join(_FORMATS)}")
    write, opener, checker = _FORMATS[format]
    model = model.eval()
    several = isinstance(input_shape, dict)
    shapes = dict(input_shape) if isinstance(input_shape, dict) else {"input": tuple(input_shape)}
    wrapped = HeadOutputs(NamedInputs(model, list(shapes)) if several else model, list(model.heads))
    dtype = input_dtype(model)
    example, check = _samples(shapes, _TRACE_BATCH, dtype), _samples(shapes, _CHECK_BATCH, dtype)
    with torch.no_grad():
        expected = wrapped(*check)
    result: dict[str, float] = {}

    def write_and_check(partial: Path) -> None:
        try:
            with warnings.catch_warnings(), torch.no_grad():
                warnings.simplefilter("ignore")  # the exporters' deprecation chatter is not the user's business
                write(wrapped, example, partial, opset, list(shapes))
                actual = opener(partial)(*check)
        except Exception as exc:
            raise ExportError(f"{format} export failed: {type(exc).__name__}: {str(exc).strip().splitlines()[0]}"
                              ) from exc
        diff = max(float((a.float() - e.float()).abs().max()) for a, e in zip(actual, expected))
        if len(actual) != len(expected) or any(a.shape != e.shape for a, e in zip(actual, expected)):
            raise ExportError(f"{format} export gives outputs of shapes {[list(a.shape) for a in actual]}, "
                              f"the model {[list(e.shape) for e in expected]}")
        if not diff <= tolerance:
            raise ExportError(f"{format} export differs from the model by up to {diff:.3g} "
                              f"(checked with {checker}), more than the tolerance {tolerance:g}")
        result["diff"] = diff

    path = write_atomically(Path(target), write_and_check)
    return ExportResult(format=format, path=path, outputs=wrapped.names, max_abs_diff=result["diff"],
                        checked_with=checker)


def export_path(artifact: str | Path, format: str, out_dir: str | Path | None = None) -> Path:
    """Where an artifact's export goes: beside it (or in ``out_dir``), named after it."""
    artifact = Path(artifact)
    stem = artifact.name.removesuffix(".safetensors")
    return Path(out_dir or artifact.parent) / f"{stem}{SUFFIXES[format]}"
