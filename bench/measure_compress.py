"""Issue 5: compressors against float32 eager from the same run (batch 8, same input, interleaved medians).

- resnet18, static int8 (PT2E, x86 inductor quantizer, compiled with freezing): speed and cosine.
- vit_tiny, static int8 (compiled): speed and bytes on disk; dynamic int8 (torchao, compiled) beside it.
- resnet18, 50 % channel pruning (torch-pruning), eager: speed and parameters.
- a two-head model exported to ONNX: largest difference from onnxruntime.
- digits (scikit-learn), a two-head CNN trained to >= 95 %: accuracy lost to static int8 and to 50 % channel
  pruning plus one fine-tune epoch, and a distilled student's accuracy against its teacher's.
"""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path

import timm
import torch
from safetensors.torch import save_file
from torch import nn

from common import Row
from flexzoo.artifact.write import weights_of
from flexzoo.assembly.builder import ZooModel
from flexzoo.plugin import StepContext
from flexzoo.reporting.report import compiled, median_seconds_interleaved
from flexzoo_plugin_compress import factories

BATCH = 8
IMAGE = (3, 224, 224)
REPEATS = 10
WARMUP = 3
CALIBRATION_BATCHES = 4
COMPILE = True  # int8 pays off compiled; compiling takes minutes on 2 cores
EPOCHS = 8
VIT_DEPTH = 12  # vit_tiny's blocks
RESNET = "resnet18"
TEACHER_CHANNELS = [32, 64]  # examples/digits.toml's
# The smoke quantizes and prunes the same code path on smaller graphs: torch.export's time grows with the graph.
SMOKE = {"BATCH": 2, "IMAGE": (3, 32, 32), "REPEATS": 1, "WARMUP": 0, "CALIBRATION_BATCHES": 1, "COMPILE": False,
         "EPOCHS": 1, "VIT_DEPTH": 2, "RESNET": "resnet10t", "TEACHER_CHANNELS": [8, 16]}


def timm_model(architecture: str) -> ZooModel:
    torch.manual_seed(0)
    size = {"img_size": IMAGE[1:], "depth": VIT_DEPTH} if architecture.startswith("vit") else {}
    backbone = timm.create_model(architecture, pretrained=False, num_classes=0, **size)
    return ZooModel(backbone, {"out": nn.Linear(backbone.num_features, 1000)}).eval()


def context() -> StepContext:
    """The host's step context for a model without [train] data (static int8 calibrates on Gaussian noise)."""
    return StepContext(input_shape=IMAGE, base_dir=None, restoring=False, has_training_data=False)


def run_compiled(model: nn.Module):
    return compiled(model) if COMPILE else model


def compress(model: ZooModel, step) -> ZooModel:
    compressed = step(copy.deepcopy(model)).eval()
    compressed.compression_steps = [step]
    return compressed


def stored_bytes(model: nn.Module) -> int:
    """Bytes on disk of the model's tensors as an artifact stores them (packed, safetensors)."""
    state = model.state_dict()
    for step in getattr(model, "compression_steps", []):
        if hasattr(step, "pack"):
            state, _ = step.pack(state)
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "weights.safetensors"
        save_file(weights_of(state), str(path))
        return path.stat().st_size


def seconds(baseline, candidate, x: torch.Tensor) -> tuple[float, float]:
    with torch.no_grad():
        base, cand = median_seconds_interleaved([lambda: baseline(x), lambda: candidate(x)], REPEATS, WARMUP)
    return base, cand


def static_int8_resnet18() -> list[Row]:
    model = timm_model(RESNET)
    quantized = compress(model, factories.quantize_int8(input_shape=IMAGE, mode="static",
                                                              calibration_batches=CALIBRATION_BATCHES,
                                                              context=context()))
    x = torch.randn(BATCH, *IMAGE, generator=torch.Generator().manual_seed(1))
    run = run_compiled(quantized)
    with torch.no_grad():
        expected, actual = model(x)["out"], run(x)["out"]
    cosine = float(nn.functional.cosine_similarity(expected.flatten(), actual.flatten(), dim=0))
    base, fast = seconds(model, run, x)
    return [
        Row(f"{RESNET} static int8 (compiled) vs fp32 eager", fast, base, "s", target=1 / 5,
            note=f"batch {BATCH}; speed-up {base / fast:.2f}x; median of {REPEATS} interleaved runs"),
        Row(f"{RESNET} static int8: cosine of outputs", cosine, 1.0, "", target=0.999, lower_is_better=False,
            note=f"same input, calibrated on {CALIBRATION_BATCHES} Gaussian batches of 8"),
    ]


def int8_vit_tiny() -> list[Row]:
    model = timm_model("vit_tiny_patch16_224")
    static = compress(model, factories.quantize_int8(input_shape=IMAGE, mode="static",
                                                     calibration_batches=max(1, CALIBRATION_BATCHES // 2),
                                                     context=context()))
    dynamic = compress(model, factories.quantize_int8(input_shape=IMAGE, mode="dynamic", context=context()))
    x = torch.randn(BATCH, *IMAGE, generator=torch.Generator().manual_seed(1))
    run_static, run_dynamic = run_compiled(static), run_compiled(dynamic)
    with torch.no_grad():
        expected, actual = model(x)["out"], run_static(x)["out"]
        base, fast, dynamic_time = median_seconds_interleaved(
            [lambda: model(x), lambda: run_static(x), lambda: run_dynamic(x)], REPEATS, WARMUP)
    cosine = float(nn.functional.cosine_similarity(expected.flatten(), actual.flatten(), dim=0))
    base_bytes = stored_bytes(model)
    return [
        Row("vit_tiny static int8 (compiled) vs fp32 eager", fast, base, "s", target=1 / 2.5,
            note=f"batch {BATCH}; speed-up {base / fast:.2f}x; cosine of outputs {cosine:.4f}"),
        Row("vit_tiny static int8: bytes on disk", stored_bytes(static), base_bytes, "B", target=0.3,
            note="safetensors of the int8 weights and scales against the float32 weights"),
        Row("vit_tiny dynamic int8 (torchao, compiled) vs fp32 eager", dynamic_time, base, "s",
            note=f"speed-up {base / dynamic_time:.2f}x; {stored_bytes(dynamic) / base_bytes:.3f}x bytes; for "
                 "comparison: static pays more here"),
    ]


def pruned_resnet18() -> list[Row]:
    model = timm_model(RESNET)
    pruned = compress(model, factories.prune_channels(input_shape=IMAGE, amount=0.5, context=context()))
    x = torch.randn(BATCH, *IMAGE, generator=torch.Generator().manual_seed(1))
    base, fast = seconds(model, pruned, x)
    count = [sum(p.numel() for p in m.parameters()) for m in (model, pruned)]
    return [
        Row(f"{RESNET} 50% channel pruning (eager) vs fp32 eager", fast, base, "s", target=1 / 3,
            note=f"batch {BATCH}; speed-up {base / fast:.2f}x"),
        Row(f"{RESNET} 50% channel pruning: parameters", count[1], count[0], "", target=0.3,
            note=f"{count[0]:,} -> {count[1]:,}"),
    ]


def onnx_two_heads() -> list[Row]:
    import flexzoo
    import flexzoo.builtin
    from flexzoo.exporting.exporters import export
    from flexzoo.host.registry import Registry

    registry = Registry.from_modules({"builtin": flexzoo.builtin})
    model = flexzoo.build(Path(__file__).parents[1] / "examples" / "digits.toml", registry)
    with tempfile.TemporaryDirectory() as directory:
        result = export(model, (1, 8, 8), "onnx", Path(directory) / "digits.onnx", tolerance=1.0)
    return [Row("ONNX two-head export: max abs diff vs onnxruntime", result.max_abs_diff, 1e-4, "", target=1.0,
                note=f"outputs {result.outputs}, dynamic batch (checked at batch 3 after tracing at 2)")]


EXAMPLE = Path(__file__).parents[1] / "examples" / "digits.toml"
DIGITS = """
[model]
name = "{name}"
input_shape = [1, 8, 8]

[backbone]
use = "cnn"
channels = {channels}

[heads.digit]
use = "linear"
num_classes = 10

[heads.parity]
use = "mlp"
num_classes = 2
hidden = [32]

[train]
data = "digits"
epochs = {epochs}
batch_size = 64
optimizer = "adamw"
lr = 0.01
weight_decay = 0.01
schedule = "cosine"
warmup_epochs = 0.5
clip_grad_norm = 5.0

[train.heads.digit]
loss = "cross_entropy"

[train.heads.parity]
weight = 0.5
"""


def digits() -> list[Row]:
    import flexzoo
    from flexzoo.pipeline.stages import Pipeline, train

    def evaluate(model, manifest):
        return Pipeline(manifest).evaluate(model)

    rows = []
    with tempfile.TemporaryDirectory() as directory:
        folder = Path(directory)

        def manifest(name: str, channels: str, steps: str = ""):
            path = folder / f"{name}.toml"
            path.write_text(DIGITS.format(name=name, channels=channels, epochs=EPOCHS) + steps)
            return flexzoo.load_manifest(path)

        # the example as it is, but for the smoke's epochs and channels
        example = EXAMPLE.read_text().replace("epochs = 8", f"epochs = {EPOCHS}").replace(
            "channels = [32, 64]", f"channels = {TEACHER_CHANNELS}")
        (folder / "digits.toml").write_text(example)
        teacher_manifest = flexzoo.load_manifest(folder / "digits.toml")
        teacher = train(teacher_manifest, folder, show_progress=False)
        teacher_accuracy = evaluate(teacher.model, teacher_manifest)["digit.accuracy"]
        for label, steps, allowed in [
            ("static int8", '[[compress]]\nuse = "quantize_int8"\nmode = "static"\n', 0.5),
            ("50% pruning + 1 fine-tune epoch",
             '[[compress]]\nuse = "prune_channels"\namount = 0.5\nfine_tune_epochs = 1\n', 1.0),
        ]:
            with_steps = folder / "example-compressed.toml"
            with_steps.write_text(example + "\n" + steps)
            compressed = Pipeline(flexzoo.load_manifest(with_steps)).compressed(copy.deepcopy(teacher.model), "none")
            accuracy = evaluate(compressed, teacher_manifest)["digit.accuracy"]
            lost = max(0.0, (teacher_accuracy - accuracy) * 100)
            rows.append(Row(f"digits {label}: accuracy points lost", lost, allowed, "points", target=1.0,
                            note=f"digit accuracy {teacher_accuracy:.2%} -> {accuracy:.2%}; baseline = points allowed"))
        student_manifest = manifest("student", "[8, 16]",
                                    f'[[compress]]\nuse = "distill"\nteacher = "{teacher.artifact.name}"\n')
        student = flexzoo.build(student_manifest)
        student_accuracy = evaluate(student, student_manifest)["digit.accuracy"]
        count = [sum(p.numel() for p in m.parameters()) for m in (teacher.model, student)]
        rows.append(Row("digits distilled student vs teacher accuracy", student_accuracy, teacher_accuracy, "",
                        target=0.95, lower_is_better=False,
                        note=f"student cnn [8, 16] ({count[1]:,} parameters) trained only by distillation "
                             f"(T = 4, alpha = 0.7, {EPOCHS} epochs); teacher: examples/digits.toml ({count[0]:,})"))
    return rows


def measure() -> list[Row]:
    torch.set_num_threads(1)
    return static_int8_resnet18() + int8_vit_tiny() + pruned_resnet18() + onnx_two_heads() + digits()
