"""``Predictor``: an artifact loaded for prediction under a runtime, with its heads' meaning."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from flexzoo.artifact.format import ArtifactInfo, read_artifact
from flexzoo.errors import FlexzooError
from flexzoo.hub.artifacts import artifact_file
from flexzoo.inputs.images import ImageGeometry
from flexzoo.prediction.heads import HeadSpec, describe, head_specs
from flexzoo.prediction.inputs import InputError, as_batch

if TYPE_CHECKING:
    from torch import nn

    from flexzoo.explain.attribution import Explanation
    from flexzoo.host.registry import Registry
    from flexzoo.prediction.runtime_choice import RuntimeChoice

__all__ = ["RUNTIMES", "Predictor"]

RUNTIMES = ("eager", "compile", "onnx", "exported-program", "auto")


def one_input_shape(info: ArtifactInfo) -> tuple[int, ...]:
    """The shape of the one input prediction feeds; a clear error for a model of several inputs or none recorded."""
    inputs = info.card.get("inputs")
    if inputs:
        raise FlexzooError(f"{info.path}: the model takes several inputs ({', '.join(inputs)}); zoo predict and zoo "
                           "serve feed one, so call flexzoo.load(path) with a dict of tensors by input name")
    shape = info.card.get("input_shape")
    if not shape:
        raise FlexzooError(f"{info.path}: the artifact records no input shape ([model] input_shape); "
                           "rebuild it with one to predict")
    return tuple(shape)


class Predictor:
    """Runs an artifact's model on numpy batches and describes the outputs per head.

    ``predictor(batch)`` gives the raw head outputs (what ``flexzoo.load(path)(x)`` gives, as numpy);
    ``predictor.predict(inputs, top_k)`` gives per sample, per head, the top-k labels with probabilities
    or the regression values.
    """

    def __init__(self, info: ArtifactInfo, run: Callable[[np.ndarray], dict[str, np.ndarray]],
                 runtime: str = "eager", model: nn.Module | None = None, registry: Registry | None = None,
                 runtime_choice: RuntimeChoice | None = None) -> None:
        self.info = info
        self.runtime = runtime
        self.runtime_choice = runtime_choice  # what ``auto`` measured, when the runtime was chosen so
        self._run = run
        self.model = model  # the torch module, for explanations (none under an exported runtime)
        self._registry = registry
        self.heads: dict[str, HeadSpec] = head_specs(info.manifest, info.card, registry)
        self.input_shape: tuple[int, ...] = one_input_shape(info)

    @classmethod
    def load(cls, path: str | Path, runtime: str = "eager", registry: Registry | None = None, *,
             batch_size: int = 32) -> Predictor:
        """Rebuild the artifact at ``path`` (verified, as ``flexzoo.load``) and prepare it under ``runtime``.

        ``runtime="auto"`` times every runtime on a batch of ``batch_size`` and takes the fastest whose
        outputs match eager (:mod:`flexzoo.prediction.runtime_choice`).
        """
        if runtime not in RUNTIMES:
            raise FlexzooError(f"unknown runtime `{runtime}`; runtimes: {', '.join(RUNTIMES)}")
        from flexzoo.pipeline import stages as pipeline
        from flexzoo.prediction.runtimes import open_runtime

        path = artifact_file(path)  # hf-hub:ORG/NAME: pulled through the Hugging Face cache
        info = read_artifact(path, verify_weights=False)  # pipeline.load checks the weights' hash
        shape = one_input_shape(info)
        model = pipeline.load(path, registry)
        choice = None
        if runtime == "auto":
            from flexzoo.prediction.runtime_choice import choose_runtime

            runtime, run, choice = choose_runtime(model, shape, batch_size)
        else:
            run = open_runtime(model, shape, runtime)
        return cls(info, run, runtime, model if runtime in ("eager", "compile") else None, registry, choice)

    @property
    def name(self) -> str:
        return self.info.manifest["model"]["name"]

    @property
    def version(self) -> str:
        return str(self.info.manifest["model"].get("version") or "0")

    @property
    def sha256(self) -> str:
        return self.info.weights_sha256

    @property
    def preprocessing(self) -> dict[str, Any] | None:
        """Image preprocessing recorded in the model card (``mean``/``std``), if any."""
        return self.info.card.get("preprocessing")

    def __call__(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        return self._run(batch)

    def predict(self, inputs: Any, top_k: int = 1) -> list[dict[str, Any]]:
        """One sample or a batch (array or nested lists) -> per sample, per head, labels or values."""
        batch = as_batch(inputs, self.input_shape)
        return describe(self(batch), self.heads, top_k)

    def predict_samples(self, samples: Sequence[np.ndarray], batch_size: int = 64, top_k: int = 1,
                        progress: Callable[[int], None] | None = None,
                        geometries: Sequence[ImageGeometry | None] | None = None) -> list[dict[str, Any]]:
        """Samples run in batches of ``batch_size``; ``progress(done)`` is called after each batch.

        ``geometries``: per sample made from an image, how it maps back onto the image (boxes are then
        answered in the image's pixels).
        """
        if batch_size < 1:
            raise InputError(f"the batch size must be at least 1, got {batch_size}")
        results: list[dict[str, Any]] = []
        for start in range(0, len(samples), batch_size):
            batch = np.stack(samples[start:start + batch_size]).astype(np.float32)
            results += describe(self(batch), self.heads, top_k,
                                geometries[start:start + batch_size] if geometries is not None else None)
            if progress:
                progress(len(results))
        return results

    def explain(self, inputs: Any, method: str = "integrated_gradients", head: str | None = None,
                target: str | int | Sequence[int] = "top", layer: str | None = None, sanity: bool = False,
                **settings: Any) -> Explanation:
        """Attribute the predictions of one sample or a batch (model-ready) to the input.

        :param method: an explainer (``zoo list explainers``): integrated_gradients, saliency, grad_cam,
            occlusion, gradient_shap, or a plugin's; ``settings`` are its parameters (``steps=100``).
        :param head: the head explained (default: the first); :param target: ``"top"`` (the predicted
            class), a label or class index, or one index per sample.
        :param layer: which declared feature map a method that needs one uses (default: the last).
        :param sanity: also run the model-randomization test (``explanation.sanity``).
        """
        from flexzoo.explain.session import explain

        if self.model is None:
            raise FlexzooError(f"attributions need gradients, and the `{self.runtime}` runtime runs an exported "
                               "graph without them; load the artifact with runtime=\"eager\" to explain it")
        return explain(self.model, as_batch(inputs, self.input_shape), self.info.manifest, self.heads,
                       method, settings, head=head, target=target, layer=layer, sanity=sanity,
                       registry=self._registry)
