"""The OpenAPI description of each served model, derived from its artifact: input shape, heads and labels."""

from __future__ import annotations

from typing import Any

from flexzoo.serving.models import ServedModel

__all__ = ["model_paths"]


def _nested(shape: list[int]) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "number"}
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
    label: dict[str, Any] = {"type": "string"}
    if head["labels"]:
        label["enum"] = head["labels"]
    else:
        label["description"] = f"class index 0..{head['output_shape'][-1] - 1} (no labels recorded)"
    entry = {"type": "object", "properties": {"label": label, "probability": {"type": "number"}}}
    return {"type": "object", "properties": {"label": label, "top_k": {"type": "array", "items": entry}}}


def _operation(model: ServedModel) -> dict[str, Any]:
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
    upload = {"type": "object", "properties": {"file": {"type": "array", "items": {"type": "string",
                                                                                     "format": "binary"}}}}
    error = {"description": "a bad request (the message says what to fix)", "content": {"application/json": {
        "schema": {"type": "object", "properties": {"error": {"type": "string"}}}}}}
    return {"post": {
        "summary": f"Predict with {model.name} (version {info['version']})",
        "description": f"Input shape {info['input_shape']}; heads: "
                       + ", ".join(f"{n} ({h['kind']})" for n, h in info["heads"].items()),
        "requestBody": {"required": True, "content": {"application/json": {"schema": request},
                                                      "multipart/form-data": {"schema": upload}}},
        "responses": {"200": {"description": "per sample, per head: labels or values",
                              "content": {"application/json": {"schema": response}}},
                      "400": error, "404": error, "413": error, "422": error, "500": error}}}


def model_paths(models: dict[str, ServedModel]) -> dict[str, Any]:
    """OpenAPI path items for every served model's predict endpoint."""
    return {f"/v1/models/{name}/predict": _operation(model) for name, model in models.items()}
