"""flexzoo-plugin-onnx: any ``.onnx`` file as a trainable flexzoo backbone (``use = "onnx"``, ``path = ...``).

Models from other frameworks (TensorFlow, MXNet, Caffe, scikit-learn, ...) reach flexzoo through
ONNX; onnx2torch turns the graph into torch modules. Registering imports neither onnx nor torch.
"""

from __future__ import annotations

from flexzoo.plugin import Component, hookimpl
from flexzoo_plugin_onnx.backbone import onnx_backbone

FLEXZOO_PLUGIN_API = 2


@hookimpl
def flexzoo_backbones() -> list[Component]:
    return [Component("onnx", onnx_backbone)]
