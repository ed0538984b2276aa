"""The ONNX plugin passes flexzoo's conformance kit on a graph written with onnx.helper."""

from __future__ import annotations

import pytest
from onnx_files import helper_cnn

from flexzoo.testing import HEAVY_MODULES, PluginConformance


class TestOnnxPlugin(PluginConformance):
    plugin = "flexzoo_plugin_onnx"
    input_shape = (1, 8, 8)
    heavy_modules = (*HEAVY_MODULES, "onnx", "onnx2torch", "onnxruntime")

    @pytest.fixture(autouse=True)
    def _onnx_file(self, tmp_path):
        """The kit builds `onnx` with `path` pointing at a small CNN written for each test."""
        self.examples = {"backbone": {"onnx": {"path": str(helper_cnn(tmp_path / "cnn.onnx"))}}}
