"""The compressors' factories: their signatures are their schemas (``zoo info prune_channels``).

Cheap to import: each factory checks its parameters, then imports torch and its library.
Every step returned follows the compressor contract in ``flexzoo.plugin.hookspecs``.
"""

from __future__ import annotations

from typing import Any, Literal

from flexzoo.plugin import ParameterError, StepContext  # torch-free; annotations are schemas


def _fraction(name: str, value: float, *, closed: bool = False) -> None:
    if not (0.0 < value <= 1.0 if closed else 0.0 < value < 1.0):
        raise ParameterError(name, f"must be in (0, 1{']' if closed else ')'}, got {value}")


def _needs_training_data(context: StepContext, parameter: str, what: str) -> None:
    if not context.has_training_data:
        raise ParameterError(parameter, f"{what} trains on the manifest's [train] data, and there is no [train]",
                             'add a [train] section (for example data = "digits")')


def prune_channels(
    input_shape: tuple[int, ...],
    amount: float = 0.5,
    importance: Literal["l2", "l1"] = "l2",
    round_to: int = 1,
    fine_tune_epochs: int = 0,
    *,
    context: StepContext,
) -> Any:
    """Structured channel pruning (torch-pruning): removes channels, so layers really shrink.

    Prunes every convolution, linear layer and attention (whole heads) of the backbone together with
    the layers coupled to it; each head's outputs are kept. About (1 - amount)² of the parameters stay.

    Args:
        input_shape: one sample's shape (from [model] input_shape), to trace the model.
        amount: fraction of channels removed from each layer.
        importance: the norm that ranks channels by their weights' magnitude.
        round_to: keep channel counts multiples of this (8 suits vectorized kernels).
        fine_tune_epochs: then train this many epochs with the [train] settings to recover accuracy.
        context: the host's step context (set by the host; the fine-tune trains through it).
    """
    _fraction("amount", amount)
    if round_to < 1:
        raise ParameterError("round_to", f"must be at least 1, got {round_to}")
    if fine_tune_epochs < 0:
        raise ParameterError("fine_tune_epochs", f"must be 0 or more, got {fine_tune_epochs}")
    if fine_tune_epochs:
        _needs_training_data(context, "fine_tune_epochs", "the fine-tune")
    from flexzoo_plugin_compress.pruning import PruneChannels

    return PruneChannels(input_shape, amount, importance, round_to, context, fine_tune_epochs)


def prune_l1(amount: float = 0.5, scope: Literal["global", "layer"] = "global") -> Any:
    """Unstructured magnitude pruning: zeroes the smallest weights (sparsity, not speed).

    The zeros are made permanent (no masks are kept), so the artifact is as large as before and the
    model as fast: use it for sparse storage formats or as a step before fine-tuning, and use
    `prune_channels` for speed.

    Args:
        amount: fraction of Linear and Conv weights set to zero.
        scope: rank weights across all layers together (global) or within each layer.
    """
    _fraction("amount", amount)
    from flexzoo_plugin_compress.pruning import PruneL1

    return PruneL1(amount, scope)


def quantize_int8(
    input_shape: tuple[int, ...],
    mode: Literal["dynamic", "static", "weight_only"] = "dynamic",
    calibration_batches: int = 8,
    batch_size: int = 8,
    *,
    context: StepContext,
) -> Any:
    """int8 quantization: `static` (calibrated; CNNs, ViTs), `dynamic` (uncalibrated), `weight_only` (size).

    - static: PT2E with the x86 inductor quantizer; int8 convolutions and linear layers with
      activation scales calibrated on `calibration_batches` batches of the [train] data (Gaussian
      noise of the input shape when there is no [train]). Pick it for CNNs, and for transformers
      when the [train] data represents their inputs (it was the faster int8 for ViTs here).
    - dynamic: torchao int8 weights and per-call int8 activations for Linear layers. Pick it for
      transformers and MLPs without representative calibration data.
    - weight_only: torchao int8 Linear weights, float activations: a quarter of the bytes.
    All three pay off under `torch.compile` (eager int8 is slower than float32 here).

    Args:
        input_shape: one sample's shape (from [model] input_shape).
        mode: static, dynamic or weight_only (see above).
        calibration_batches: static only: how many batches calibrate the activation scales.
        batch_size: static only: samples per calibration batch.
        context: the host's step context (set by the host; its [train] data calibrates `static`).
    """
    if calibration_batches < 1 or batch_size < 1:
        name = "calibration_batches" if calibration_batches < 1 else "batch_size"
        raise ParameterError(name, "must be at least 1")
    from flexzoo_plugin_compress.quantization import StaticInt8, TorchaoInt8

    if mode == "static":
        return StaticInt8(input_shape, calibration_batches, batch_size, context)
    return TorchaoInt8(mode)


def low_rank(rank_ratio: float | None = None, energy: float = 0.95, match: str = "*") -> Any:
    """Low-rank factorization: each Linear and Conv2d becomes two thinner layers from its truncated SVD.

    A k x k convolution becomes a k x k convolution to `rank` channels and a 1 x 1 one back; a layer
    is factorized only where that makes it smaller. Grouped and dilated convolutions are left alone.

    Args:
        rank_ratio: keep this fraction of the singular values; overrides `energy` when set.
        energy: keep the fewest singular values holding this fraction of the squared spectrum.
        match: glob over module names (for example "backbone.*").
    """
    if rank_ratio is not None:
        _fraction("rank_ratio", rank_ratio, closed=True)
    _fraction("energy", energy, closed=True)
    from flexzoo_plugin_compress.low_rank import LowRank

    return LowRank(rank_ratio, None if rank_ratio is not None else energy, match)


def cast(dtype: Literal["bfloat16", "float16"] = "bfloat16") -> Any:
    """Cast weights to bfloat16 or float16 (half the bytes; inputs must be given in that dtype).

    Args:
        dtype: the floating-point type of the weights.
    """
    from flexzoo_plugin_compress.casting import Cast

    return Cast(dtype)


def distill(
    teacher: str,
    temperature: float = 4.0,
    alpha: float = 0.7,
    epochs: int = 0,
    *,
    context: StepContext,
) -> Any:
    """Knowledge distillation: trains the manifest's model as the student of a teacher artifact.

    The loss is (1 - alpha) x the [train] task loss + alpha x temperature² x KL(teacher || student) on
    softened outputs of every classification head; data, batch size, optimizer and schedule come from
    [train]. Teacher and student need the same heads.

    Args:
        teacher: the teacher's artifact (.safetensors), relative to the manifest's folder.
        temperature: softens both distributions; higher passes on more of the teacher's dark knowledge.
        alpha: weight of the distillation term against the task loss.
        epochs: epochs of distillation; 0 takes [train] epochs.
        context: the host's step context (set by the host; it loads the teacher and trains the student).
    """
    _needs_training_data(context, "teacher", "distillation")
    if temperature <= 0:
        raise ParameterError("temperature", f"must be positive, got {temperature}")
    if not 0.0 <= alpha <= 1.0:
        raise ParameterError("alpha", f"must be in [0, 1], got {alpha}")
    if epochs < 0:
        raise ParameterError("epochs", f"must be 0 or more, got {epochs}")
    path = context.resolve_path(teacher)
    if not context.restoring and not path.is_file():  # an artifact restores without its teacher
        raise ParameterError("teacher", f"no teacher artifact at {path}", "train the teacher first (`zoo train`)")
    from flexzoo_plugin_compress.distillation import Distill

    return Distill(context, path, temperature, alpha, epochs)
