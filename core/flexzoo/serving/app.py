"""The HTTP routes (FastAPI). Every error is JSON ``{"error": message}`` with one clear message.

- ``POST /v1/models/{name}/predict`` (and ``/v1/models/{name}/versions/{version}/predict``): a JSON body
  ``{"inputs": sample-or-list, "top_k": k}``, or image uploads (multipart field ``file``, repeatable), or
  one image as the raw body (``Content-Type: image/*``).
- ``GET /v1/models``, ``GET /v1/models/{name}``: what is served; ``GET /health`` (alive), ``GET /ready``
  (503 while draining), ``GET /metrics`` (Prometheus).
- ``POST /admin/models`` ``{"path": ...}`` (serve a new name), ``POST /admin/models/{name}/reload``
  ``{"path": ..., "sha256": optional}``, ``POST /admin/models/{name}/rollback``: with ``admin_token`` set,
  only with ``Authorization: Bearer <token>``.
"""

from __future__ import annotations

import json
import time
from typing import Any

import numpy as np
from fastapi import FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from flexzoo._version import __version__
from flexzoo.inputs.images import ImageGeometry
from flexzoo.prediction import InputError, as_batch, describe
from flexzoo.prediction.inputs import image_input
from flexzoo.serving.models import ModelStore, NotFound, Version, VersionError
from flexzoo.serving.schema import model_paths

__all__ = ["Problem", "create_app"]


class Problem(Exception):
    """An HTTP error with its status and the message the client gets."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def _body(request: Request, limit: int) -> bytes:
    """The request body, refused with a 413 as soon as it passes ``limit`` bytes: the rest is never read.

    A declared ``Content-Length`` over the limit is refused before reading anything; a chunked upload is
    read chunk by chunk (uvicorn pauses the socket while a chunk waits), so at most ``limit`` bytes plus
    one chunk are ever held.
    """
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise Problem(413, f"the request body is {int(declared):,} bytes, over the limit of {limit:,}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise Problem(413, f"the request body is over the limit of {limit:,} bytes (refused after {size:,})")
        chunks.append(chunk)
    return b"".join(chunks)


def _replay(request: Request, body: bytes) -> Request:
    """``request`` again, with its body (already read and checked by ``_body``) given back to Starlette's parsers."""
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return Request(request.scope, receive)


async def _inputs(request: Request, version: Version, limit: int
                  ) -> tuple[np.ndarray, int, list[ImageGeometry | None] | None]:
    """The request's batch, top_k, and for uploaded images how each input maps back onto its image."""
    predictor = version.predictor
    shape = predictor.input_shape
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = await _body(request, limit)
    if kind.startswith("image/"):
        sample = image_input(body, shape, predictor.preprocessing, "the uploaded image")
        return sample.array[None], 1, [sample.geometry]
    if kind == "multipart/form-data":
        form = await _replay(request, body).form(max_part_size=limit)
        files = [item for item in form.getlist("file") if hasattr(item, "read")]
        if not files:
            raise Problem(400, "a multipart request needs one or more image files in the field `file`")
        images = [image_input(await f.read(), shape, predictor.preprocessing, f"uploaded image `{f.filename}`")
                  for f in files]
        return np.stack([image.array for image in images]), _top_k(form.get("top_k", 1)), [
            image.geometry for image in images]
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Problem(400, f"the body is not valid JSON ({exc}); send {{\"inputs\": [...]}}") from None
    if not isinstance(payload, dict) or "inputs" not in payload:
        raise Problem(400, "the JSON body needs the key `inputs`: one sample of shape "
                           f"{list(shape)} or a list of them")
    return as_batch(payload["inputs"], shape, "`inputs`"), _top_k(payload.get("top_k", 1)), None


def _top_k(value: Any) -> int:
    try:
        k = int(value)
    except (TypeError, ValueError):
        k = 0
    if k < 1 or isinstance(value, bool):
        raise Problem(422, f"`top_k` must be an integer of at least 1, got {value!r}")
    return k


def create_app(store: ModelStore, *, max_body_bytes: int = 8 << 20, admin_token: str | None = None) -> FastAPI:
    """The application serving ``store``'s models."""
    app = FastAPI(title="flexzoo", version=__version__, docs_url="/docs", redoc_url=None)
    app.state.store = store
    app.state.draining = False
    metrics = store.metrics

    @app.exception_handler(Problem)
    async def problem(request: Request, exc: Problem) -> JSONResponse:
        return _error(exc.status, exc.message)

    @app.exception_handler(NotFound)
    async def not_found(request: Request, exc: NotFound) -> JSONResponse:
        return _error(404, str(exc))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _error(exc.status_code, str(exc.detail))

    @app.exception_handler(Exception)
    async def internal(request: Request, exc: Exception) -> JSONResponse:
        return _error(500, f"internal error: {type(exc).__name__}: {exc}")

    def openapi() -> dict[str, Any]:
        schema = get_openapi(title="flexzoo", version=__version__, routes=app.routes,
                             description="Models served by `zoo serve`; each predict path is derived from its "
                                         "artifact's input shape, heads and labels.")
        schema["paths"].update(model_paths(store.models))
        return schema

    app.openapi = openapi  # type: ignore[method-assign]  # recomputed: versions change while serving

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/ready")
    async def ready() -> JSONResponse:
        if app.state.draining or not store.models:
            return JSONResponse({"ready": False, "draining": app.state.draining}, status_code=503)
        return JSONResponse({"ready": True, "models": {n: m.current for n, m in store.models.items()}})

    @app.get("/metrics")
    async def metrics_text() -> Response:
        return Response(metrics.text(), media_type="text/plain; version=0.0.4")

    @app.get("/v1/models")
    async def list_models() -> dict[str, Any]:
        return {"models": [model.describe() for model in store.models.values()]}

    @app.get("/v1/models/{name}")
    async def show_model(name: str) -> dict[str, Any]:
        return store.get(name).describe()

    async def predict(request: Request, name: str, version_label: str | None) -> JSONResponse:
        started = time.perf_counter()
        known = name in store.models
        label, version_text = (name if known else "unknown"), ""
        status = 500
        try:
            model = store.get(name)
            model.in_flight += 1
            try:
                version = model.get(version_label)
                version_text = version.version
                batch, top_k, geometries = await _inputs(request, version, max_body_bytes)
                try:
                    outputs = await version.batcher.submit(batch)
                except Exception as exc:
                    raise Problem(500, f"model `{name}` version {version.version} failed on this request: "
                                       f"{type(exc).__name__}: {exc}") from None
            finally:
                model.in_flight -= 1
            status = 200
            return JSONResponse({"model": name, "version": version.version,
                                 "predictions": describe(outputs, version.predictor.heads, top_k, geometries),
                                 "outputs": {head: value.tolist() for head, value in outputs.items()}})
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

    @app.post("/v1/models/{name}/predict", include_in_schema=False)
    async def predict_current(name: str, request: Request) -> JSONResponse:
        return await predict(request, name, None)

    @app.post("/v1/models/{name}/versions/{version}/predict", include_in_schema=False)
    async def predict_version(name: str, version: str, request: Request) -> JSONResponse:
        return await predict(request, name, version)

    async def admin_body(request: Request) -> dict[str, Any]:
        if admin_token and request.headers.get("authorization") != f"Bearer {admin_token}":
            raise Problem(401, "admin endpoints need `Authorization: Bearer <token>` (zoo serve --admin-token)")
        body = await _body(request, max_body_bytes)
        try:
            payload = json.loads(body or b"{}")
        except ValueError as exc:
            raise Problem(400, f"the body is not valid JSON ({exc})") from None
        if not isinstance(payload, dict):
            raise Problem(400, "the body must be a JSON object")
        return payload

    def path_of(payload: dict[str, Any]) -> str:
        if not isinstance(payload.get("path"), str):
            raise Problem(400, "the body needs `path`: the artifact file to load, as the server sees it")
        return payload["path"]

    async def load(payload: dict[str, Any], name: str | None) -> dict[str, Any]:
        previous = store.models[name].current if name in store.models else None
        try:
            version = await store.load(path_of(payload), name, payload.get("sha256"))
        except VersionError as exc:
            still = f"; still serving version {previous}" if previous else ""
            raise Problem(422, f"load refused: {exc}{still}") from None
        model = store.get(version.predictor.name)
        return {"model": model.name, "version": version.version, "previous": model.history[-1] if model.history
                else None, "sha256": version.predictor.sha256}

    @app.post("/admin/models")
    async def add_model(request: Request) -> dict[str, Any]:
        return await load(await admin_body(request), None)

    @app.post("/admin/models/{name}/reload")
    async def reload_model(name: str, request: Request) -> dict[str, Any]:
        payload = await admin_body(request)
        store.get(name)
        return await load(payload, name)

    @app.post("/admin/models/{name}/rollback")
    async def rollback_model(name: str, request: Request) -> dict[str, Any]:
        await admin_body(request)
        try:
            version = store.rollback(name)
        except VersionError as exc:
            raise Problem(409, str(exc)) from None
        return {"model": name, "version": version.version}

    return app
