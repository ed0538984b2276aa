"""The HTTP application (FastAPI). Every error is JSON ``{"error": message}`` with one clear message.

- ``POST /v1/models/{name}/predict`` (and ``/v1/models/{name}/versions/{version}/predict``): a JSON body
  ``{"inputs": sample-or-list, "top_k": k}``, or image uploads (multipart field ``file``, repeatable), or
  one image as the raw body (recognized by its bytes, whatever its ``Content-Type``).
- ``POST /v1/models/{name}/explain``: ``{"inputs": ..., "method": "integrated_gradients", "head": H, "target":
  "top", "settings": {...}}`` -> per sample the attributions, target, label and score (``zoo explain``'s).
- ``GET /v1/models``, ``GET /v1/models/{name}``: what is served; ``GET /v1/models/{name}/monitor``: each version's
  drift monitoring (the last window's tests, alarms); ``GET /health`` (alive), ``GET /ready``
  (503 while draining), ``GET /metrics`` (Prometheus text), ``GET /openapi.json`` and ``/docs``.
- The Open Inference Protocol under ``/v2`` (:mod:`~flexzoo.serving.oip`) and, where allowed, ``/admin``
  (:mod:`~flexzoo.serving.admin`).

A method a route does not take is a 405 with ``Allow``; an unknown path a 404; an unexpected exception a
500 whose message names its type only (the traceback goes to the server's log).
"""

from __future__ import annotations

import logging
import re
from typing import Any

import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.formparsers import MultiPartException

from flexzoo._version import __version__
from flexzoo.errors import FlexzooError
from flexzoo.inputs.images import ImageGeometry
from flexzoo.prediction import as_batch, describe
from flexzoo.prediction.inputs import image_input
from flexzoo.serving.admin import add_admin_routes
from flexzoo.serving.inference import run
from flexzoo.serving.models import ModelStore, NotFound, Version
from flexzoo.serving.oip import add_oip_routes
from flexzoo.serving.requests import Problem, is_image, json_text, parse_json, read_body, replay
from flexzoo.serving.schema import openapi
from flexzoo.serving.security import AdminAccess

__all__ = ["Problem", "create_app"]

log = logging.getLogger("flexzoo.serving")


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


async def _inputs(request: Request, version: Version, limit: int
                  ) -> tuple[np.ndarray, tuple[int, list[ImageGeometry | None] | None]]:
    """The request's batch, with its top_k and, for uploaded images, how each input maps onto its image.

    An image is recognized by its first bytes whatever the ``Content-Type`` (``application/octet-stream``,
    none, even a wrong one); ``image/*`` and ``application/octet-stream`` bodies are decoded as images.
    """
    predictor = version.predictor
    shape = predictor.input_shape
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = await read_body(request, limit)
    if is_image(body) or kind.startswith("image/") or kind == "application/octet-stream":
        sample = image_input(body, shape, predictor.preprocessing, "the uploaded image")
        return sample.array[None], (1, [sample.geometry])
    if kind == "multipart/form-data":
        try:
            form = await replay(request, body).form(max_part_size=limit)
        except (MultiPartException, StarletteHTTPException, ValueError):  # python-multipart's errors are ValueErrors
            raise Problem(400, "the multipart body is malformed; send the images as form fields named `file` "
                               "(curl -F file=@x.png)") from None
        unknown = sorted(key for key in form if key not in ("file", "top_k"))
        if unknown:
            raise Problem(400, f"unknown form field {json_text(unknown[0])}; a multipart request takes `file` "
                               "(one or more images) and `top_k`")
        files = [item for item in form.getlist("file") if hasattr(item, "read")]
        if not files:
            raise Problem(400, "a multipart request needs one or more image files in the field `file`")
        images = [image_input(await f.read(), shape, predictor.preprocessing, f"uploaded image `{f.filename}`")
                  for f in files]
        return np.stack([image.array for image in images]), (_top_k(form.get("top_k", 1), from_form=True), [
            image.geometry for image in images])
    payload = parse_json(body, 'send {"inputs": [...]} or an image')
    if not isinstance(payload, dict) or "inputs" not in payload:
        raise Problem(400, "the JSON body needs the key `inputs`: one sample of shape "
                           f"{list(shape)} or a list of them")
    return as_batch(payload["inputs"], shape, "`inputs`"), (_top_k(payload.get("top_k", 1)), None)


def _top_k(value: Any, from_form: bool = False) -> int:
    """``top_k`` as sent: a JSON integer (3 or 3.0), or the decimal text of a form field."""
    if from_form and isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        value = int(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise Problem(422, f"`top_k` must be an integer of at least 1, got {json_text(value)}")
    return value


def _explain_request(payload: Any, version: Version, max_batch_size: int) -> tuple[Any, ...]:
    """``(batch, method, head, target, settings)`` of an explain request, or a 400/422 naming what is wrong."""
    if not isinstance(payload, dict) or "inputs" not in payload:
        raise Problem(400, 'the JSON body needs the key `inputs`: one sample of shape '
                           f"{list(version.predictor.input_shape)} or a list of them")
    unknown = sorted(set(payload) - {"inputs", "method", "head", "target", "settings"})
    if unknown:
        raise Problem(400, f"unknown key `{unknown[0]}`; an explain request takes inputs, method, head, target "
                           "and settings")
    method, head, target = payload.get("method", "integrated_gradients"), payload.get("head"), payload.get("target",
                                                                                                         "top")
    settings = payload.get("settings", {})
    if not isinstance(method, str) or not (head is None or isinstance(head, str)):
        raise Problem(400, "`method` and `head` are strings")
    if isinstance(target, float) and target.is_integer():  # JSON's 3.0 is the integer 3 (as JSON Schema reads it)
        target = int(target)
    if isinstance(target, bool) or not isinstance(target, (str, int)):
        raise Problem(400, f"`target` is \"top\", a label or a class index, got {json_text(target)}")
    if not isinstance(settings, dict):
        raise Problem(400, "`settings` is an object of the explainer's settings ({\"steps\": 100})")
    batch = as_batch(payload["inputs"], version.predictor.input_shape, "`inputs`")
    if len(batch) > max_batch_size:
        raise Problem(422, f"explain takes at most {max_batch_size} samples a request, got {len(batch)}")
    return batch, method.replace("-", "_"), head, target, settings


def _scrubbed(message: str) -> str:
    """``message`` without Python object reprs (``<_io.BytesIO object at 0x…>`` becomes ``BytesIO``)."""
    return _REPR.sub(lambda match: match.group(1).rsplit(".", 1)[-1], message)


_REPR = re.compile(r"<([\w.]+) object at 0x[0-9a-fA-F]+>")


def create_app(store: ModelStore, *, max_body_bytes: int = 8 << 20, access: AdminAccess | None = None,
               max_batch_size: int = 32) -> FastAPI:
    """The application serving ``store``'s models (``/admin`` only where ``access`` enables it)."""
    access = access or AdminAccess.configure("127.0.0.1", None)
    app = FastAPI(title="flexzoo", version=__version__, docs_url="/docs", redoc_url=None,
                  swagger_ui_oauth2_redirect_url=None)
    app.state.store = store
    app.state.draining = False
    metrics = store.metrics

    @app.exception_handler(Problem)
    async def problem(request: Request, exc: Problem) -> JSONResponse:
        return _error(exc.status, _scrubbed(exc.message))

    @app.exception_handler(NotFound)
    async def not_found(request: Request, exc: NotFound) -> JSONResponse:
        return _error(404, str(exc))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 404:
            return _error(404, f"no route {request.url.path}; the routes are listed at /openapi.json")
        return _error(exc.status_code, str(exc.detail), exc.headers)  # a 405 keeps its `Allow`

    @app.exception_handler(Exception)
    async def internal(request: Request, exc: Exception) -> JSONResponse:
        log.error("internal error on %s %s", request.method, request.url.path, exc_info=exc)
        return _error(500, f"internal error ({type(exc).__name__}); the server's log has the details")

    app.openapi = lambda: openapi(store.models, access, max_body_bytes,  # type: ignore[method-assign]
                                  max_batch_size)  # recomputed: versions change while serving

    @app.get("/health", include_in_schema=False)
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/ready", include_in_schema=False)
    async def ready() -> JSONResponse:
        if app.state.draining or not store.models:
            return JSONResponse({"ready": False, "draining": app.state.draining}, status_code=503)
        return JSONResponse({"ready": True, "models": {n: m.current for n, m in store.models.items()}})

    @app.get("/metrics", include_in_schema=False)
    async def metrics_text() -> Response:
        return Response(metrics.text(), media_type="text/plain; version=0.0.4; charset=utf-8")

    @app.get("/v1/models", include_in_schema=False)
    async def list_models() -> dict[str, Any]:
        return {"models": [model.describe() for model in store.models.values()]}

    @app.get("/v1/models/{name}", include_in_schema=False)
    async def show_model(name: str) -> dict[str, Any]:
        return store.get(name).describe()

    @app.get("/v1/models/{name}/monitor", include_in_schema=False)
    async def monitor(name: str) -> dict[str, Any]:
        model = store.get(name)
        return {"model": name, "version": model.current,
                "versions": {label: version.monitoring() for label, version in model.versions.items()}}

    async def predict(request: Request, name: str, version_label: str | None) -> JSONResponse:
        async def read(version: Version) -> tuple[np.ndarray, tuple[int, list[ImageGeometry | None] | None]]:
            return await _inputs(request, version, max_body_bytes)

        version, (top_k, geometries), outputs = await run(store, name, version_label, read)
        return JSONResponse({"model": name, "version": version.version,
                             "predictions": describe(outputs, version.predictor.heads, top_k, geometries),
                             "outputs": {head: value.tolist() for head, value in outputs.items()}})

    @app.post("/v1/models/{name}/predict", include_in_schema=False)
    async def predict_current(name: str, request: Request) -> JSONResponse:
        return await predict(request, name, None)

    @app.post("/v1/models/{name}/versions/{version}/predict", include_in_schema=False)
    async def predict_version(name: str, version: str, request: Request) -> JSONResponse:
        return await predict(request, name, version)

    @app.post("/v1/models/{name}/explain", include_in_schema=False)
    async def explain(name: str, request: Request) -> JSONResponse:
        version = store.get(name).get(None)
        body = await read_body(request, max_body_bytes)
        payload = parse_json(body, 'send {"inputs": [...], "method": "integrated_gradients"}')
        try:
            batch, method, head, target, settings = _explain_request(payload, version, max_batch_size)
            explanation = await run_in_threadpool(version.predictor.explain, batch, method, head, target,
                                                  **settings)
        except FlexzooError as exc:  # bad inputs; an unknown head, label, method or setting; an exported runtime
            raise Problem(422, str(exc)) from None
        if not (np.isfinite(explanation.attributions).all() and np.isfinite(np.asarray(explanation.scores)).all()):
            raise Problem(422, "the attributions of these inputs are not finite (values too large for the model's "
                               "float32 arithmetic); send inputs in the range the model was trained on")
        answer = {"model": name, "version": version.version, "method": explanation.method, "head": explanation.head,
                  "settings": explanation.settings, "targets": explanation.targets, "labels": explanation.labels,
                  "scores": explanation.scores, "attributions": explanation.attributions.tolist()}
        if explanation.completeness_gap is not None:
            answer["completeness_gap"] = explanation.gap_summary()
        return JSONResponse(answer)

    add_oip_routes(app, store, max_body_bytes, max_batch_size)
    if access.enabled:
        add_admin_routes(app, store, access, max_body_bytes)
    return app
