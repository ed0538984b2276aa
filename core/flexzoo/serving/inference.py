"""One prediction request, whatever its protocol (``/v1`` or the Open Inference Protocol's ``/v2``).

Both protocols find the model and version the same way, send their batch through the version's batcher
(so requests of either protocol are merged into the same model calls) and count the request in the same
metrics; only how a request is read and an answer written differs.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import numpy as np

from flexzoo.prediction import InputError
from flexzoo.serving.models import ModelStore, NotFound, Version
from flexzoo.serving.requests import Problem

__all__ = ["Reader", "run"]

T = TypeVar("T")
Reader = Callable[[Version], Awaitable[tuple[np.ndarray, T]]]


async def run(store: ModelStore, name: str, version_label: str | None, read: Reader[T]
              ) -> tuple[Version, T, dict[str, np.ndarray]]:
    """The version that answered, what ``read`` made of the request beside its batch, and the outputs.

    ``read`` turns the request into a float32 batch for the version; its :class:`Problem` or
    :class:`InputError` (422) is the client's error, a model that raises is a 500 for this request only,
    and outputs that overflow to inf or NaN (finite but huge inputs) are a 422.
    """
    metrics = store.metrics
    started = time.perf_counter()
    label, version_text, status = (name if name in store.models else "unknown"), "", 500
    try:
        model = store.get(name)
        model.in_flight += 1
        try:
            version = model.get(version_label)
            version_text = version.version
            batch, extra = await read(version)
            try:
                outputs = await version.batcher.submit(batch)
            except Exception as exc:
                raise Problem(500, f"model `{name}` version {version.version} failed on this request: "
                                   f"{type(exc).__name__}: {exc}") from None
        finally:
            model.in_flight -= 1
        broken = [head for head, value in outputs.items() if not np.isfinite(value).all()]
        if broken:  # JSON has no infinity: say why instead of failing to write the answer
            raise Problem(422, f"model `{name}` version {version.version} gave non-finite outputs (inf or NaN) "
                               f"for head {', '.join(broken)} on this input; values this large overflow the model")
        status = 200
        return version, extra, outputs
    except Problem as exc:
        status = exc.status
        raise
    except NotFound:
        status = 404
        raise
    except InputError as exc:
        status = 422
        raise Problem(422, str(exc)) from None
    finally:
        metrics.requests.labels(label, version_text, str(status)).inc()
        if status >= 400:
            metrics.errors.labels(label, "client" if status < 500 else "server").inc()
        metrics.latency.labels(label).observe(time.perf_counter() - started)

