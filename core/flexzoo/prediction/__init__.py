"""Prediction from an artifact: reading inputs, running the model under a runtime, describing its outputs.

``Predictor.load(path)`` is the front door (also ``flexzoo.Predictor``); ``zoo predict`` and ``zoo serve``
are built on it. Importing this package does not import torch.
"""

from __future__ import annotations

from flexzoo.prediction.heads import HeadSpec, describe, head_specs
from flexzoo.prediction.inputs import InputError, as_batch, read_inputs
from flexzoo.prediction.predictor import RUNTIMES, Predictor

__all__ = ["RUNTIMES", "HeadSpec", "InputError", "Predictor", "as_batch", "describe", "head_specs", "read_inputs"]
