"""Exporting a model to ONNX, TorchScript or a torch.export program, each checked after writing.

Every format gets a dynamic batch axis and one named output per head (in manifest order). The
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
from flexzoo.dtypes import example_input, input_dtype
from flexzoo.errors import FlexzooError
from flexzoo.validation import DEFAULT_OPSET, EXPORT_TOLERANCE

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

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.names = list(model.heads)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        outputs = self.model(x)
        return tuple(outputs[name] for name in self.names)


def _sample(shape: tuple[int, ...], batch: int, dtype: torch.dtype) -> torch.Tensor:
    return example_input(shape, batch, dtype, torch.Generator().manual_seed(batch))


def _dynamic_batch() -> tuple[dict[int, Any]]:
    return ({0: torch.export.Dim("batch", min=1, max=1 << 16)},)


def _write_onnx(wrapped: HeadOutputs, example: torch.Tensor, path: Path, opset: int) -> None:
    torch.onnx.export(wrapped, (example,), str(path), dynamo=True, opset_version=opset, input_names=["input"],
                      output_names=wrapped.names, dynamic_shapes=_dynamic_batch(), external_data=False, verbose=False)


def _open_onnx(path: Path) -> Callable[[torch.Tensor], list[torch.Tensor]]:
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [output.name for output in session.get_outputs()]
    return lambda x: [torch.from_numpy(value) for value in session.run(names, {"input": x.numpy()})]


def _write_torchscript(wrapped: HeadOutputs, example: torch.Tensor, path: Path, opset: int) -> None:
    traced = torch.jit.trace(wrapped, (example,), check_trace=False)
    torch.jit.save(traced, str(path))


def _open_torchscript(path: Path) -> Callable[[torch.Tensor], list[torch.Tensor]]:
    module = torch.jit.load(str(path))
    return lambda x: list(module(x))


def _write_program(wrapped: HeadOutputs, example: torch.Tensor, path: Path, opset: int) -> None:
    buffer = io.BytesIO()  # torch.export.save wants a .pt2 name; the partial file has another
    torch.export.save(torch.export.export(wrapped, (example,), dynamic_shapes=_dynamic_batch()), buffer)
    path.write_bytes(buffer.getvalue())


def _open_program(path: Path) -> Callable[[torch.Tensor], list[torch.Tensor]]:
    module = torch.export.load(io.BytesIO(path.read_bytes())).module()
    return lambda x: list(module(x))


_Opener = Callable[[Path], Callable[[torch.Tensor], list[torch.Tensor]]]
_FORMATS: dict[str, tuple[Callable[..., None], _Opener, str]] = {
    "onnx": (_write_onnx, _open_onnx, "onnxruntime"),
    "torchscript": (_write_torchscript, _open_torchscript, "torch.jit.load"),
    "exported-program": (_write_program, _open_program, "torch.export.load"),
}


def open_export(format: str, path: str | Path) -> Callable[[torch.Tensor], list[torch.Tensor]]:
    """Load a written export once (ONNX into an onnxruntime session); the callable runs it on a batch and
    returns one tensor per head, in head order."""
    if format not in _FORMATS:
        raise ExportError(f"unknown export format `{format}`; formats: {', '.join(_FORMATS)}")
    return _FORMATS[format][1](Path(path))


def export(model: nn.Module, input_shape: tuple[int, ...], format: str, target: str | Path, *,
           opset: int = DEFAULT_OPSET, tolerance: float = EXPORT_TOLERANCE) -> ExportResult:
    """Write ``model`` in ``format`` to ``target`` atomically, after checking the written file."""
    if format not in _FORMATS:
        raise ExportError(f"unknown export format `{format}`; formats: {', '.join(_FORMATS)}")
    write, opener, checker = _FORMATS[format]
    wrapped = HeadOutputs(model.eval())
    dtype = input_dtype(model)
    example, check = _sample(input_shape, _TRACE_BATCH, dtype), _sample(input_shape, _CHECK_BATCH, dtype)
    with torch.no_grad():
        expected = wrapped(check)
    result: dict[str, float] = {}

    def write_and_check(partial: Path) -> None:
        try:
            with warnings.catch_warnings(), torch.no_grad():
                warnings.simplefilter("ignore")  # the exporters' deprecation chatter is not the user's business
                write(wrapped, example, partial, opset)
                actual = opener(partial)(check)
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
