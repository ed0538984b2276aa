"""Importing keras on its torch backend, or saying clearly why it cannot be."""

from __future__ import annotations

import os
import sys
from typing import Any

from flexzoo.plugin import FlexzooError


class KerasBackendError(FlexzooError):
    """keras runs, or is set to run, on a backend other than torch."""


def import_keras() -> Any:
    """keras, on the torch backend: its models are then ``torch.nn.Module`` s the host can train.

    keras picks its backend once, when first imported (``KERAS_BACKEND``, else ~/.keras/keras.json);
    this sets ``KERAS_BACKEND=torch`` when nothing chose one, and refuses any other choice.
    """
    loaded = sys.modules.get("keras")
    if loaded is not None:
        backend = loaded.backend.backend()
        if backend != "torch":
            raise KerasBackendError(f"keras was imported with the {backend} backend before flexzoo-plugin-keras "
                                    "could choose torch; keras cannot switch backends in a running process: set "
                                    "KERAS_BACKEND=torch before anything imports keras")
        return loaded
    chosen = os.environ.get("KERAS_BACKEND", "torch")
    if chosen != "torch":
        raise KerasBackendError(f"KERAS_BACKEND is {chosen!r}; flexzoo-plugin-keras needs the torch backend (its "
                                "models train in flexzoo's torch loop): set KERAS_BACKEND=torch or unset it")
    os.environ["KERAS_BACKEND"] = "torch"
    import keras

    if keras.backend.backend() != "torch":  # pragma: no cover - keras.json cannot override the variable
        raise KerasBackendError(f"keras chose the {keras.backend.backend()} backend despite KERAS_BACKEND=torch")
    return keras
