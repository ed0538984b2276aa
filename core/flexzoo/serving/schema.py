"""The OpenAPI document of a server: every route it answers, with its bodies, content types and statuses.

Written out here rather than inferred from the routes, so that it says what the server does: each served
model's predict and infer paths are derived from its artifact (input shape, heads, labels), ``/admin``
appears only when it is routed (with its bearer scheme when a token guards it), and each operation lists
exactly the statuses its handler answers. A 4xx body is always ``{"error": message}``.
"""

from __future__ import annotations

from typing import Any

from flexzoo._version import __version__
from flexzoo.serving.models import ServedModel
from flexzoo.serving.oip import is_image_model
from flexzoo.serving.security import AdminAccess
from flexzoo.serving.tensors import DATATYPES

__all__ = ["openapi"]

FLOAT32_LIMIT = (2 - 2 ** -24) * 2 ** 127  # the smallest magnitude that rounds to infinity in float32
_ERROR = {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}}
_MEANING = {400: "malformed: not JSON, or a required key missing or of the wrong type",
            401: "the admin token is missing or wrong", 403: "the path is outside the model directories",
            404: "no such model or version", 409: "no previous version to roll back to",
            413: "the body is over --max-body-bytes",
            422: "well formed, but the content cannot be used (shape, values, an undecodable image, a refused "
                 "artifact)", 500: "the model raised on this request", 503: "draining or nothing served"}


def _nested(shape: list[int]) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": ["number", "boolean"], "exclusiveMinimum": -FLOAT32_LIMIT,
                              "exclusiveMaximum": FLOAT32_LIMIT}  # false and true are read as 0 and 1
    for size in reversed(shape):
        schema = {"type": "array", "items": schema, "minItems": size, "maxItems": size}
    return schema


def _head_schema(head: dict[str, Any]) -> dict[str, Any]:
    if head["kind"] == "regression":
        return {"type": "object", "properties": {"values": {"type": "array", "items": {"type": "number"}}}}
    if head["kind"] == "detection":
        box = {"type": "object", "properties": {"label": {"type": "string"}, "score": {"type": "number"},
                                                **{edge: {"type": "number"} for edge in ("x1", "y1", "x2", "y2")}}}
        return {"type": "object", "properties": {"boxes": {
            "type": "array", "items": box, "description": "boxes found, highest score first, in the pixels of "
                                                          "the image sent (of the model input for arrays)"}}}
    if head["kind"] == "segmentation":
        return {"type": "object", "properties": {
            "mask": {"type": "array", "description": "the class index of each pixel, row by row"},
            "pixels": {"type": "object", "description": "pixels per class label",
                       "additionalProperties": {"type": "integer"}}}}
    if head["kind"] != "classification":  # a plugin task's own answer
        return {"type": "object", "description": f"the answer of a `{head['kind']}` head (its plugin's decoding)"}
    label: dict[str, Any] = {"type": "string"}
    if head["labels"]:
        label["enum"] = head["labels"]
    else:
        label["description"] = f"class index 0..{head['output_shape'][-1] - 1} (no labels recorded)"
    entry = {"type": "object", "properties": {"label": label, "probability": {"type": "number"}}}
    return {"type": "object", "properties": {"label": label, "top_k": {"type": "array", "items": entry}}}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _responses(ok: dict[str, Any], *errors: int, ok_description: str = "the answer") -> dict[str, Any]:
    answers = {"200": _json(ok, ok_description)}
    answers.update({str(status): _json(_ERROR, _MEANING[status]) for status in errors})
    return answers


def _path_parameter(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}, "description": description}


_OBJECT = {"type": "object"}
_MONITOR = {"type": "object", "required": ["model", "version", "versions"], "properties": {
    "model": {"type": "string"}, "version": {"type": "string"},
    "versions": {"type": "object", "description": "per version label: `enabled`, and either `reason` (off) or the "
                 "window size, samples seen, windows scored, alarms and the `latest` window's tests",
                 "additionalProperties": {"type": "object", "required": ["enabled"],
                                          "properties": {"enabled": {"type": "boolean"}}}}}}
_NUMBER = {"type": "number"}
_RUNTIME_CHOICE = {
    "type": ["object", "null"], "description": "with --runtime auto, what was measured at load: the runtime chosen, "
    "each runtime's cost per sample in a busy server (its wall time, or its CPU time over the cores the event loop "
    "leaves, whichever is longer; averaged over `batch_sizes`, the powers of two up to `batch_size`), the wall and "
    "CPU times it comes from, and why any was left out (null otherwise)",
    "required": ["requested", "chosen", "batch_size", "batch_sizes", "milliseconds_per_sample",
                 "wall_milliseconds_per_sample", "cpu_milliseconds_per_sample", "rejected"], "properties": {
        "requested": {"type": "string", "enum": ["auto"]}, "chosen": {"type": "string"},
        "batch_size": {"type": "integer"}, "batch_sizes": {"type": "array", "items": {"type": "integer"}},
        "milliseconds_per_sample": {"type": "object", "additionalProperties": _NUMBER},
        "wall_milliseconds_per_sample": {"type": "object", "additionalProperties": _NUMBER},
        "cpu_milliseconds_per_sample": {"type": "object", "additionalProperties": _NUMBER},
        "rejected": {"type": "object", "additionalProperties": {"type": "string"}}}}
_MODEL = {"type": "object", "required": ["name", "version", "versions", "previous", "input_shape", "heads"],
          "properties": {
              "name": {"type": "string"}, "version": {"type": "string"}, "previous": {"type": ["string", "null"]},
              "input_shape": {"type": "array", "items": {"type": "integer"}}, "heads": _OBJECT,
              "versions": {"type": "array", "items": {
                  "type": "object", "required": ["version", "sha256", "path", "runtime", "runtime_choice", "loaded_at"],
                  "properties": {"version": {"type": "string"}, "sha256": {"type": "string"},
                                 "path": {"type": "string"},
                                 "runtime": {"type": "string", "description": "the runtime serving this version"},
                                 "runtime_choice": _RUNTIME_CHOICE, "loaded_at": _NUMBER}}}}}
_VERSION = _path_parameter("version", "a version label, as /v1/models/NAME lists them")
_NAME = _path_parameter("name", "a served model's name")


def _versions_of(model: ServedModel) -> dict[str, Any]:
    return {**_VERSION, "schema": {"type": "string", "enum": list(model.versions)}}


def _predict(model: ServedModel, versioned: bool) -> dict[str, Any]:
    info = model.describe()
    sample = _nested(info["input_shape"])
    request = {"type": "object", "required": ["inputs"], "properties": {
        "inputs": {"oneOf": [sample, {"type": "array", "items": sample, "minItems": 1}],
                   "description": f"one sample of shape {info['input_shape']} or a list of them"},
        "top_k": {"type": "integer", "minimum": 1, "default": 1}}}
    heads = {name: _head_schema(head) for name, head in info["heads"].items()}
    response = {"type": "object", "properties": {
        "model": {"type": "string"}, "version": {"type": "string"},
        "predictions": {"type": "array", "items": {"type": "object", "properties": heads}},
        "outputs": {"type": "object", "description": "raw head outputs, per head a list per sample",
                    "properties": {name: {"type": "array"} for name in heads}}}}
    upload = {"type": "object", "required": ["file"], "additionalProperties": False, "properties": {
        "file": {"type": "array", "minItems": 1, "items": {"type": "string", "format": "binary"}},
        "top_k": {"type": "integer", "minimum": 1, "default": 1}}}
    image = {"type": "string", "format": "binary", "description": "one image file (PNG, JPEG, GIF, BMP, TIFF, "
                                                                     "WebP...), recognized by its bytes"}
    errors = (400, 404, 413, 422, 500) if versioned else (400, 413, 422, 500)
    operation = {
        "summary": f"Predict with {model.name}" + (" (a given version)" if versioned else
                                                    f" (version {info['version']})"),
        "description": f"Input shape {info['input_shape']}; heads: "
                       + ", ".join(f"{n} ({h['kind']})" for n, h in info["heads"].items()),
        "requestBody": {"required": True, "content": {
            "application/json": {"schema": request}, "multipart/form-data": {"schema": upload},
            "application/octet-stream": {"schema": image}, "image/*": {"schema": image}}},
        "responses": _responses(response, *errors, ok_description="per sample, per head: labels or values")}
    if versioned:
        operation["parameters"] = [_versions_of(model)]
    return {"post": operation}


def _explain(model: ServedModel) -> dict[str, Any]:
    info = model.describe()
    sample = _nested(info["input_shape"])
    request = {"type": "object", "required": ["inputs"], "additionalProperties": False, "properties": {
        "inputs": {"oneOf": [sample, {"type": "array", "items": sample, "minItems": 1}],
                   "description": f"one sample of shape {info['input_shape']} or a list of them"},
        "method": {"type": "string", "default": "integrated_gradients",
                   "description": "an explainer: integrated_gradients, saliency, grad_cam, occlusion, gradient_shap "
                                  "or a plugin's"},
        "head": {"type": ["string", "null"], "enum": [*info["heads"], None], "description": "default: the first"},
        "target": {"oneOf": [{"type": "string"}, {"type": "integer", "minimum": 0}], "default": "top",
                   "description": "top (the prediction), a label or a class index"},
        "settings": {"type": "object", "description": "the explainer's settings, as zoo info NAME lists them"}}}
    response = {"type": "object", "properties": {
        "model": {"type": "string"}, "version": {"type": "string"}, "method": {"type": "string"},
        "head": {"type": "string"}, "settings": _OBJECT,
        "targets": {"type": "array", "items": {"type": "integer"}},
        "labels": {"type": "array", "items": {"type": "string"}},
        "scores": {"type": "array", "items": {"type": "number"}},
        "attributions": {"type": "array", "description": "per sample, the attributions over the input"},
        "completeness_gap": _OBJECT}}
    return {"post": {
        "summary": f"Explain {model.name}'s predictions (version {info['version']})",
        "description": "Attributions of each sample's target to its input, as zoo explain makes them",
        "requestBody": {"required": True, "content": {"application/json": {"schema": request}}},
        "responses": _responses(response, 400, 413, 422, ok_description="per sample: attributions, target, score")}}


def _infer(model: ServedModel, versioned: bool, max_batch_size: int) -> dict[str, Any]:
    info = model.describe()
    names = ["input", "image"] if is_image_model(info["input_shape"]) else ["input"]
    data_item = {"oneOf": [{"type": "number"}, {"type": "boolean"}, {"type": "string"}, {"type": "array"}]}
    tensor = {"type": "object", "required": ["name", "shape", "datatype", "data"], "properties": {
        "name": {"type": "string", "enum": names},
        "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}, "maxItems": 8,
                  "description": f"[N, {', '.join(map(str, info['input_shape']))}] for `input` (N from 1 to "
                                 f"{max_batch_size}); [N] for `image`"},
        "datatype": {"type": "string", "enum": [*DATATYPES, "BYTES"]},
        "parameters": _OBJECT,
        "data": {"type": "array", "items": data_item,
                 "description": "the values in row-major order, flat or nested; BYTES elements base64"}}}
    heads = list(info["heads"])
    request = {"type": "object", "required": ["inputs"], "properties": {
        "id": {"type": "string"}, "parameters": _OBJECT,
        "inputs": {"type": "array", "items": tensor, "minItems": 1, "maxItems": 1},
        "outputs": {"type": "array", "items": {"type": "object", "required": ["name"], "properties": {
            "name": {"type": "string", "enum": heads}, "parameters": _OBJECT}}}}}
    output = {"type": "object", "required": ["name", "datatype", "shape"], "properties": {
        "name": {"type": "string", "enum": heads}, "datatype": {"type": "string"},
        "shape": {"type": "array", "items": {"type": "integer"}}, "data": {"type": "array"},
        "parameters": _OBJECT}}
    response = {"type": "object", "required": ["model_name", "model_version", "outputs"], "properties": {
        "model_name": {"type": "string"}, "model_version": {"type": "string"}, "id": {"type": "string"},
        "outputs": {"type": "array", "items": output}}}
    errors = (400, 404, 413, 422, 500) if versioned else (400, 413, 422, 500)
    answers = _responses(response, *errors, ok_description="one output tensor per head")
    answers["200"]["content"]["application/octet-stream"] = {"schema": {
        "type": "string", "format": "binary", "description": "binary tensor data: the JSON answer (its length in "
        "the Inference-Header-Content-Length header), then the outputs' bytes"}}
    operation = {
        "summary": f"Open Inference Protocol inference with {model.name}",
        "description": "A JSON request is described here; Triton's binary tensor data extension (the JSON "
                       "header's length in Inference-Header-Content-Length, then each input's bytes) is also read.",
        "requestBody": {"required": True, "content": {"application/json": {"schema": request}}},
        "responses": answers}
    if versioned:
        operation["parameters"] = [_versions_of(model)]
    return {"post": operation}


def _get(summary: str, ok: dict[str, Any], *errors: int, parameters: list[dict[str, Any]] = (),
         ok_type: str = "application/json", false_status: int | None = None) -> dict[str, Any]:
    answers = _responses(ok, *errors)
    if ok_type != "application/json":
        answers["200"]["content"] = {ok_type: {"schema": ok}}
    if false_status:
        answers[str(false_status)] = _json(ok, "not ready (draining, or nothing served)")
    operation: dict[str, Any] = {"summary": summary, "responses": answers}
    if parameters:
        operation["parameters"] = list(parameters)
    return {"get": operation}


def _admin(access: AdminAccess) -> dict[str, Any]:
    guarded = (401,) if access.token else ()
    load = {"type": "object", "required": ["path"], "properties": {
        "path": {"type": "string", "description": "the artifact to load, inside a --model-dir of the server"},
        "sha256": {"type": "string", "description": "the weights' expected digest"}}}
    loaded = {"type": "object", "properties": {"model": {"type": "string"}, "version": {"type": "string"},
                                                "previous": {"type": ["string", "null"]},
                                                "sha256": {"type": "string"}}}
    rolled = {"type": "object", "properties": {"model": {"type": "string"}, "version": {"type": "string"}}}

    def post(summary: str, body: dict[str, Any], required: bool, ok: dict[str, Any], *errors: int,
             named: bool = True) -> dict[str, Any]:
        operation = {"summary": summary, "requestBody": {"required": required, "content": {
            "application/json": {"schema": body}}}, "responses": _responses(ok, 400, *guarded, *errors, 413)}
        if named:
            operation["parameters"] = [_NAME]
        if access.token:
            operation["security"] = [{"bearer": []}]
        return {"post": operation}

    return {"/admin/models": post("Serve a new model from an artifact", load, True, loaded, 403, 422, named=False),
            "/admin/models/{name}/reload": post("Load a new version of a model", load, True, loaded, 403, 404, 422),
            "/admin/models/{name}/rollback": post("Serve the previous version again", _OBJECT, False, rolled,
                                                  404, 409)}


def openapi(models: dict[str, ServedModel], access: AdminAccess, max_body_bytes: int, max_batch_size: int
            ) -> dict[str, Any]:
    """The OpenAPI 3.1 document of a server serving ``models``, with ``access``'s admin routes."""
    text = {"type": "string"}
    paths: dict[str, Any] = {
        "/health": _get("Alive", {"type": "object", "properties": {"status": text}}),
        "/ready": _get("Ready to answer", {"type": "object", "properties": {"ready": {"type": "boolean"},
                                                                            "models": _OBJECT}}, 503),
        "/metrics": _get("Prometheus metrics (text exposition format 0.0.4)", text, ok_type="text/plain"),
        "/openapi.json": _get("This document", _OBJECT),
        "/docs": _get("This document, for a browser", text, ok_type="text/html"),
        "/v1/models": _get("The served models", {"type": "object", "properties": {
            "models": {"type": "array", "items": _OBJECT}}}),
        "/v1/models/{name}": _get("One served model: versions (each with its runtime), input shape, heads", _MODEL, 404,
                                  parameters=[_NAME]),
        "/v1/models/{name}/monitor": _get("Drift monitoring of a served model: per version, the last window's "
                                          "two-sample tests against the artifact's reference profile, and alarms",
                                          _MONITOR, 404, parameters=[_NAME]),
        "/v2": _get("Open Inference Protocol: server metadata", {"type": "object", "properties": {
            "name": text, "version": text, "extensions": {"type": "array", "items": text}}}),
        "/v2/health/live": _get("Open Inference Protocol: live", {"type": "object", "properties": {
            "live": {"type": "boolean"}}}),
        "/v2/health/ready": _get("Open Inference Protocol: ready (400 when not)", {"type": "object", "properties": {
            "ready": {"type": "boolean"}}}, false_status=400),
    }
    metadata = {"type": "object", "required": ["name", "versions", "platform", "inputs", "outputs"], "properties": {
        "name": text, "versions": {"type": "array", "items": text}, "platform": text,
        "inputs": {"type": "array", "items": _OBJECT}, "outputs": {"type": "array", "items": _OBJECT}}}
    ready = {"type": "object", "properties": {"name": text, "ready": {"type": "boolean"}}}
    for suffix, parameters in (("", [_NAME]), ("/versions/{version}", [_NAME, _VERSION])):
        paths[f"/v2/models/{{name}}{suffix}"] = _get("Open Inference Protocol: model metadata", metadata, 404,
                                                     parameters=parameters)
        paths[f"/v2/models/{{name}}{suffix}/ready"] = _get("Open Inference Protocol: model ready", ready, 404,
                                                           parameters=parameters, false_status=400)
    for name, model in models.items():
        paths[f"/v1/models/{name}/predict"] = _predict(model, versioned=False)
        paths[f"/v1/models/{name}/versions/{{version}}/predict"] = _predict(model, versioned=True)
        paths[f"/v1/models/{name}/explain"] = _explain(model)
        paths[f"/v2/models/{name}/infer"] = _infer(model, False, max_batch_size)
        paths[f"/v2/models/{name}/versions/{{version}}/infer"] = _infer(model, True, max_batch_size)
    if access.enabled:
        paths.update(_admin(access))
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": "flexzoo", "version": __version__, "description":
                 "Models served by `zoo serve`; each predict and infer path is derived from its artifact's input "
                 f"shape, heads and labels. Request bodies are limited to {max_body_bytes:,} bytes (413 above)."},
        "paths": paths}
    if access.enabled and access.token:
        document["components"] = {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}}
    return document
