"""The builtin explainers, each a thin layer over Captum's implementation (registered by ``flexzoo.builtin``).

Importing this module is cheap: Captum and torch are imported when an explainer attributes. Each factory's
signature is its schema (``zoo info integrated_gradients``); each explainer records its baseline and
settings in ``settings`` so that an explanation says how it was made.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

from flexzoo.builtin.checks import Positive, PositiveFloat
from flexzoo.plugin import FlexzooError

if TYPE_CHECKING:
    import torch
    from torch import nn

__all__ = ["METHODS", "grad_cam", "gradient_shap", "integrated_gradients", "occlusion", "saliency"]

Baseline = Literal["zeros", "min"]
Rule = Literal["gausslegendre", "riemann_trapezoid", "riemann_middle"]


def _captum() -> Any:
    try:
        import captum.attr
    except ImportError:
        raise FlexzooError("the builtin explainers are built on Captum, which is not installed: "
                           "pip install 'flexzoo[explain]'") from None
    return captum.attr


def _baseline(inputs: torch.Tensor, kind: str) -> torch.Tensor:
    """``zeros``: all zeros (the mean image when inputs are normalized); ``min``: each sample's lowest value."""
    import torch

    if kind == "zeros":
        return torch.zeros_like(inputs)
    return inputs.detach().flatten(1).amin(1).view(-1, *([1] * (inputs.dim() - 1))).expand_as(inputs).clone()


class IntegratedGradients:
    """Captum's IntegratedGradients from a baseline; complete (the host reports the gap)."""

    needs_feature_maps = False

    def __init__(self, steps: int, baseline: str, rule: str, internal_batch_size: int | None) -> None:
        self.steps, self.kind, self.rule, self.internal_batch_size = steps, baseline, rule, internal_batch_size
        self.settings = {"steps": steps, "baseline": baseline, "rule": rule}

    def baseline(self, inputs: torch.Tensor) -> torch.Tensor:
        return _baseline(inputs, self.kind)

    def attribute(self, forward: Callable[[torch.Tensor], torch.Tensor], inputs: torch.Tensor,
                  target: torch.Tensor, layer: nn.Module | None = None) -> torch.Tensor:
        method = _captum().IntegratedGradients(forward)
        return method.attribute(inputs, baselines=self.baseline(inputs), target=target, n_steps=self.steps,
                                method=self.rule, internal_batch_size=self.internal_batch_size)


def integrated_gradients(steps: Positive = 50, baseline: Baseline = "zeros", rule: Rule = "gausslegendre",
                         internal_batch_size: Positive | None = None) -> IntegratedGradients:
    """Integrated Gradients (Sundararajan et al. 2017): gradients integrated from a baseline to the input.

    Args:
        steps: points on the path from the baseline; more steps shrink the completeness gap.
        baseline: "zeros" (the mean image for normalized inputs) or "min" (each sample's lowest value: black).
        rule: the integration rule (Captum's `method`).
        internal_batch_size: path points evaluated at once (default: all); lower it to save memory.
    """
    return IntegratedGradients(steps, baseline, rule, internal_batch_size)


class Saliency:
    """Captum's Saliency: the gradient of the target score (absolute by default)."""

    needs_feature_maps = False

    def __init__(self, absolute: bool) -> None:
        self.absolute = absolute
        self.settings = {"absolute": absolute}

    def attribute(self, forward: Callable[[torch.Tensor], torch.Tensor], inputs: torch.Tensor,
                  target: torch.Tensor, layer: nn.Module | None = None) -> torch.Tensor:
        return _captum().Saliency(forward).attribute(inputs, target=target, abs=self.absolute)


def saliency(absolute: bool = True) -> Saliency:
    """Saliency (Simonyan et al. 2014): the gradient of the target's score with respect to the input.

    Args:
        absolute: attribute the gradient's magnitude (the original method) instead of its sign.
    """
    return Saliency(absolute)


class GradCam:
    """Captum's LayerGradCam on the backbone's declared feature map, upsampled to the input's size."""

    needs_feature_maps = True

    def __init__(self, relu: bool, interpolation: str) -> None:
        self.relu, self.interpolation = relu, interpolation
        self.settings = {"relu": relu, "interpolation": interpolation}

    def attribute(self, forward: Callable[[torch.Tensor], torch.Tensor], inputs: torch.Tensor,
                  target: torch.Tensor, layer: nn.Module | None = None) -> torch.Tensor:
        if layer is None:
            raise FlexzooError("grad_cam needs the layer of a feature map; the host passes it as `layer`")
        attr = _captum()
        maps = attr.LayerGradCam(forward, layer).attribute(inputs, target=target, relu_attributions=self.relu)
        return attr.LayerAttribution.interpolate(maps, tuple(inputs.shape[2:]), self.interpolation)


def grad_cam(relu: bool = True, interpolation: Literal["bilinear", "nearest"] = "bilinear") -> GradCam:
    """Grad-CAM (Selvaraju et al. 2017): the feature map weighted by its pooled gradients, upsampled.

    The host gives it the module that makes the backbone's last declared feature map (`--layer` names
    another); a backbone that declares no feature maps cannot be explained by it.

    Args:
        relu: keep positive evidence only (the paper's choice).
        interpolation: how the coarse map is upsampled to the input's size.
    """
    return GradCam(relu, interpolation)


class Occlusion:
    """Captum's Occlusion: how the target's score drops when a window is replaced by the baseline."""

    needs_feature_maps = False

    def __init__(self, window: int, stride: int, baseline: str) -> None:
        self.window, self.stride, self.kind = window, stride, baseline
        self.settings = {"window": window, "stride": stride, "baseline": baseline}

    def attribute(self, forward: Callable[[torch.Tensor], torch.Tensor], inputs: torch.Tensor,
                  target: torch.Tensor, layer: nn.Module | None = None) -> torch.Tensor:
        shape = tuple(inputs.shape[1:])
        # images: windows over the positions, all channels at once; sequences and tables: over every axis
        window = (shape[0], *[min(self.window, n) for n in shape[1:]]) if len(shape) == 3 else \
            tuple(min(self.window, n) for n in shape)
        strides = (shape[0], *[self.stride] * (len(shape) - 1)) if len(shape) == 3 else (self.stride,) * len(shape)
        baseline = _baseline(inputs, self.kind)[:1] if self.kind == "min" else 0.0
        return _captum().Occlusion(forward).attribute(inputs, sliding_window_shapes=window, strides=strides,
                                                      baselines=baseline, target=target)


def occlusion(window: Positive = 3, stride: Positive = 1, baseline: Baseline = "zeros") -> Occlusion:
    """Occlusion (Zeiler & Fergus 2014): slide a window of baseline values over the input; the score's drop.

    Args:
        window: the window's size along each position axis (images: a square over all channels).
        stride: how far the window moves each step.
        baseline: what covers the window: "zeros" or "min" (the first sample's lowest value).
    """
    return Occlusion(window, stride, baseline)


class GradientShap:
    """Captum's GradientShap: expected gradients between noisy inputs and random baselines."""

    needs_feature_maps = False

    def __init__(self, samples: int, stdevs: float, baseline: str, seed: int) -> None:
        self.samples, self.stdevs, self.kind, self.seed = samples, stdevs, baseline, seed
        self.settings = {"samples": samples, "stdevs": stdevs, "baseline": baseline, "seed": seed}

    def attribute(self, forward: Callable[[torch.Tensor], torch.Tensor], inputs: torch.Tensor,
                  target: torch.Tensor, layer: nn.Module | None = None) -> torch.Tensor:
        import torch

        base = _baseline(inputs, self.kind)
        baselines = torch.cat([base, inputs.detach()])  # the path's ends: the baseline and the inputs themselves
        with torch.random.fork_rng(devices=[]):  # the same inputs always give the same attributions
            torch.manual_seed(self.seed)
            return _captum().GradientShap(forward).attribute(inputs, baselines=baselines, n_samples=self.samples,
                                                             stdevs=self.stdevs, target=target)


def gradient_shap(samples: Positive = 20, stdevs: PositiveFloat = 0.1, baseline: Baseline = "zeros",
                  seed: int = 0) -> GradientShap:
    """GradientSHAP (Lundberg & Lee 2017): gradients averaged over noisy points between baselines and input.

    Args:
        samples: random points per input.
        stdevs: standard deviation of the noise added to each point.
        baseline: the reference: "zeros" or "min"; the inputs themselves join it in the baseline set.
        seed: the random points' seed (the same seed gives the same attributions).
    """
    return GradientShap(samples, stdevs, baseline, seed)


#: The builtin explainers by name (CLI and serving also accept them with ``-`` for ``_``).
METHODS: dict[str, Callable[..., Any]] = {
    "integrated_gradients": integrated_gradients,
    "saliency": saliency,
    "grad_cam": grad_cam,
    "occlusion": occlusion,
    "gradient_shap": gradient_shap,
}
