"""int8 quantization on maintained APIs.

- ``dynamic`` and ``weight_only``: torchao's int8 tensors replace Linear weights (activations are
  quantized per call in ``dynamic``). The artifact holds their int8 values and scales as plain
  tensors through torchao's safetensors helpers.
- ``static``: PT2E with the x86 inductor quantizer; the backbone and each head are captured with
  ``torch.export``, calibrated, and converted (int8 weights, per-channel scales as tensors). The
  activations' scales live in the graph as numbers, so they are recorded as JSON and written back
  into the graph on load.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import torch
from torch import fx, nn

if TYPE_CHECKING:
    from flexzoo.plugin import StepContext

_PER_TENSOR = ("quantize_per_tensor", "dequantize_per_tensor")

# torchao registers enums with torch's pytree on import, which torch 2.14 answers with a deprecation
# warning per enum on stderr: noise for a user of `zoo`, not something they can act on.
logging.getLogger("torch.utils._pytree").setLevel(logging.ERROR)


def _torchao_config(mode: str) -> Any:
    from torchao.quantization import Int8DynamicActivationInt8WeightConfig, Int8WeightOnlyConfig

    return Int8DynamicActivationInt8WeightConfig() if mode == "dynamic" else Int8WeightOnlyConfig()


class TorchaoInt8:
    """Linear weights as torchao int8 tensors; fast under ``torch.compile``, not in eager mode."""

    def __init__(self, mode: str) -> None:
        self.mode = mode

    def __call__(self, model: nn.Module) -> nn.Module:
        from torchao.quantization import quantize_

        quantize_(model, _torchao_config(self.mode))
        return model

    def record(self) -> dict[str, Any]:
        return {}  # the layers to quantize follow from the architecture

    def restore(self, model: nn.Module, record: dict[str, Any]) -> nn.Module:
        return self(model)  # values are loaded afterwards

    def pack(self, state: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
        from torchao.prototype.safetensors.safetensors_support import flatten_tensor_state_dict

        return flatten_tensor_state_dict(state)

    def unpack(self, tensors: dict[str, torch.Tensor], packing: dict[str, str]) -> dict[str, torch.Tensor]:
        from torchao.prototype.safetensors.safetensors_support import unflatten_tensor_state_dict

        state, leftover = unflatten_tensor_state_dict(tensors, packing)
        return {**state, **leftover}


def _activation_nodes(graph: fx.Graph) -> list[fx.Node]:
    return [node for node in graph.nodes if node.op == "call_function"
            and any(name in str(node.target) for name in _PER_TENSOR)]


def _drop_unused_attributes(module: fx.GraphModule) -> None:
    """Convert leaves the float weights behind, unused: remove them so the artifact holds int8 only."""
    module.graph.eliminate_dead_code()
    used = {node.target for node in module.graph.nodes if node.op == "get_attr"}
    for name in [n for n, _ in module.named_parameters()] + [n for n, _ in module.named_buffers()]:
        if name not in used:
            owner_name, _, leaf = name.rpartition(".")
            owner = module.get_submodule(owner_name)
            owner._parameters.pop(leaf, None)
            owner._buffers.pop(leaf, None)
    module.recompile()


class StaticInt8:
    """PT2E static int8 (x86 inductor quantizer): calibrated activation scales, int8 convolutions."""

    def __init__(self, input_shape: tuple[int, ...], calibration_batches: int, batch_size: int,
                 context: StepContext) -> None:
        self.input_shape = input_shape
        self.calibration_batches = calibration_batches
        self.batch_size = batch_size
        self.context = context
        self.qparams: dict[str, list[list[float]]] = {}

    def calibration(self, count: int, representative: bool = True) -> list[torch.Tensor]:
        """The first batches of the [train] data's training split, else seeded Gaussian batches."""
        if representative and self.context.has_training_data:
            return self.context.calibration_batches(count, self.batch_size)
        generator = torch.Generator().manual_seed(0)
        return [torch.randn(self.batch_size, *self.input_shape, generator=generator) for _ in range(count)]

    def _convert(self, module: nn.Module, batches: list[torch.Tensor]) -> fx.GraphModule:
        from torchao.quantization.pt2e import allow_exported_model_train_eval
        from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e
        from torchao.quantization.pt2e.quantizer import x86_inductor_quantizer as x86

        batch = torch.export.Dim("batch", min=1)
        captured = torch.export.export(module.eval(), (batches[0],),
                                       dynamic_shapes=({0: batch},)).module()
        quantizer = x86.X86InductorQuantizer().set_global(x86.get_default_x86_inductor_quantization_config())
        prepared = prepare_pt2e(captured, quantizer)
        with torch.no_grad():
            for inputs in batches:
                prepared(inputs)
        converted = convert_pt2e(prepared)
        _drop_unused_attributes(converted)
        return allow_exported_model_train_eval(converted)  # the host calls .eval() on every model

    def _quantize(self, model: nn.Module, batches: list[torch.Tensor]) -> nn.Module:
        """Convert the backbone on the input batches, and each head on the backbone's features."""
        with torch.no_grad():
            features = [model.backbone.eval()(b) for b in batches]
        model.backbone = self._convert(model.backbone, batches)
        for name, head in model.heads.items():
            model.heads[name] = self._convert(head, features)
        return model

    def __call__(self, model: nn.Module) -> nn.Module:
        model = self._quantize(model, self.calibration(self.calibration_batches))
        for key in ["backbone", *(f"heads.{name}" for name in model.heads)]:
            nodes = _activation_nodes(model.get_submodule(key).graph)
            self.qparams[key] = [[float(n.args[1]), int(n.args[2])] for n in nodes]
        return model

    def record(self) -> dict[str, Any]:
        return {"activation_qparams": self.qparams}

    def restore(self, model: nn.Module, record: dict[str, Any]) -> nn.Module:
        """Re-capture the same graphs (any calibration), then write back the recorded activation scales."""
        self.qparams = record["activation_qparams"]
        # any batch rebuilds the graph: the recorded scales replace what it observes
        model = self._quantize(model, self.calibration(1, representative=False))
        for key, recorded in record["activation_qparams"].items():
            module = model.get_submodule(key)
            nodes = _activation_nodes(module.graph)
            if len(nodes) != len(recorded):
                raise ValueError(f"{key}: the re-captured graph has {len(nodes)} quantized activations, "
                                 f"the artifact {len(recorded)}")
            for node, (scale, zero_point) in zip(nodes, recorded):
                node.args = (node.args[0], scale, zero_point, *node.args[3:])
            module.recompile()
        return model
