"""Running a loaded model under a runtime: eager, ``torch.compile``, onnxruntime, or a torch.export program.

The compile runtime freezes the weights (:func:`flexzoo.reporting.report.compiled`): a served model's weights do
not change, and int8 graphs are fast only frozen.

Each runtime is a callable from a float32 numpy batch to a dict of head outputs (numpy, float32, in head
order). The ONNX and exported-program runtimes export the model with :mod:`flexzoo.exporting.exporters` (which
checks the written file against the model within the export tolerance) into a temporary directory and
load the file once.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from flexzoo.exporting import exporters
from flexzoo.inputs.dtypes import input_dtype
from flexzoo.reporting.report import compiled

__all__ = ["Runtime", "open_runtime"]

Runtime = Callable[[np.ndarray], dict[str, np.ndarray]]


def _torch_runtime(module: Callable[[torch.Tensor], dict[str, torch.Tensor]], dtype: torch.dtype) -> Runtime:
    def run(batch: np.ndarray) -> dict[str, np.ndarray]:
        with torch.inference_mode():
            outputs = module(torch.from_numpy(batch).to(dtype))
        return {name: value.float().numpy() for name, value in outputs.items()}

    return run


def _exported_runtime(model: nn.Module, input_shape: tuple[int, ...], format: str) -> Runtime:
    names = list(model.heads)
    dtype = input_dtype(model)
    with tempfile.TemporaryDirectory(prefix="flexzoo-runtime-") as directory:
        written = exporters.export(model, input_shape, format, Path(directory) / f"model{exporters.SUFFIXES[format]}")
        forward = exporters.open_export(format, written.path)

    def run(batch: np.ndarray) -> dict[str, np.ndarray]:
        with torch.inference_mode():
            outputs = forward(torch.from_numpy(batch).to(dtype))
        return {name: value.float().numpy() for name, value in zip(names, outputs)}

    return run


def open_runtime(model: nn.Module, input_shape: tuple[int, ...], runtime: str) -> Runtime:
    """The model, ready to run under ``runtime`` ("eager", "compile", "onnx" or "exported-program")."""
    model.eval()
    if runtime == "eager":
        return _torch_runtime(model, input_dtype(model))
    if runtime == "compile":
        return _torch_runtime(compiled(model, dynamic=True), input_dtype(model))
    return _exported_runtime(model, input_shape, runtime)
