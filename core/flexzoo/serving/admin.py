"""The admin routes: serve a new model, reload one from an artifact, roll one back.

- ``POST /admin/models`` ``{"path": ...}``: serve the artifact under its own name.
- ``POST /admin/models/{name}/reload`` ``{"path": ..., "sha256": optional}``: a new version of ``name``.
- ``POST /admin/models/{name}/rollback``: the previous version again.

They are routed only when :class:`~flexzoo.serving.security.AdminAccess` allows it; with a token, every
one of them needs ``Authorization: Bearer <token>`` (checked before anything else, 401 otherwise), and a
path is loaded only from inside the model directories (403 otherwise, with one message for every path).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request

from flexzoo.serving.models import ModelStore, VersionError
from flexzoo.serving.requests import Problem, parse_json, read_body
from flexzoo.serving.security import AdminAccess, PathRefused

__all__ = ["add_admin_routes"]


def add_admin_routes(app: FastAPI, store: ModelStore, access: AdminAccess, max_body_bytes: int) -> None:
    """Route ``/admin`` on ``app`` (the caller checks ``access.enabled``)."""

    async def admin_body(request: Request) -> dict[str, Any]:
        if not access.authorized(request.headers.get("authorization")):
            raise Problem(401, "admin endpoints need `Authorization: Bearer <token>` (zoo serve --admin-token)")
        body = await read_body(request, max_body_bytes)
        payload = parse_json(body or b"{}", 'send a JSON object such as {"path": "/models/x.safetensors"}')
        if not isinstance(payload, dict):
            raise Problem(400, "the body must be a JSON object")
        return payload

    def path_of(payload: dict[str, Any]) -> str:
        if not isinstance(payload.get("path"), str):
            raise Problem(400, "the body needs `path`: the artifact file to load, as the server sees it")
        if "sha256" in payload and not isinstance(payload["sha256"], str):
            raise Problem(400, "`sha256`, when given, must be the hex digest of the weights as a string")
        try:
            return str(access.confine(payload["path"]))
        except PathRefused as exc:
            raise Problem(403, str(exc)) from None

    async def load(payload: dict[str, Any], name: str | None) -> dict[str, Any]:
        path = path_of(payload)
        previous = store.models[name].current if name in store.models else None
        try:
            version = await store.load(path, name, payload.get("sha256"))
        except VersionError as exc:
            still = f"; still serving version {previous}" if previous else ""
            raise Problem(422, f"load refused: {exc}{still}") from None
        model = store.get(version.predictor.name)
        return {"model": model.name, "version": version.version, "previous": model.history[-1] if model.history
                else None, "sha256": version.predictor.sha256}

    @app.post("/admin/models", include_in_schema=False)
    async def add_model(request: Request) -> dict[str, Any]:
        return await load(await admin_body(request), None)

    @app.post("/admin/models/{name}/reload", include_in_schema=False)
    async def reload_model(name: str, request: Request) -> dict[str, Any]:
        payload = await admin_body(request)
        store.get(name)
        return await load(payload, name)

    @app.post("/admin/models/{name}/rollback", include_in_schema=False)
    async def rollback_model(name: str, request: Request) -> dict[str, Any]:
        await admin_body(request)
        try:
            version = store.rollback(name)
        except VersionError as exc:
            raise Problem(409, str(exc)) from None
        return {"model": name, "version": version.version}
