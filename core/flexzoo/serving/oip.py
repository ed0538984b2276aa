"""The Open Inference Protocol (KServe v2 REST, as Triton, MLServer and Seldon speak it) beside ``/v1``.

- ``GET /v2/health/live``, ``GET /v2/health/ready``: 200 when true, 400 when false (the protocol's 4xx).
- ``GET /v2``: the server's name, version and extensions (``binary_tensor_data``).
- ``GET /v2/models/{name}[/versions/{version}]``: the model's metadata: versions, platform, and its inputs
  and outputs with names, datatypes and shapes (-1 for the batch dimension).
- ``GET /v2/models/{name}[/versions/{version}]/ready``.
- ``POST /v2/models/{name}[/versions/{version}]/infer``: one input tensor, ``input`` (any number type, of
  shape ``[N, *input_shape]``, converted to float32 as ``/v1`` does) or, for an image model, ``image``
  (``BYTES`` of shape ``[N]``: encoded image files, base64 in JSON). One output per head, FP32, named for
  the head; ``outputs`` picks some, binary per output or with ``binary_data_output``.

Requests go through the same batcher, versions and metrics as ``/v1`` (:mod:`flexzoo.serving.inference`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from flexzoo._version import __version__
from flexzoo.prediction import as_batch
from flexzoo.prediction.inputs import image_input
from flexzoo.serving.inference import run
from flexzoo.serving.models import ModelStore, ServedModel, Version
from flexzoo.serving.requests import Problem, json_text, parse_json, read_body
from flexzoo.serving.tensors import decode_bytes, encode_output, split_binary, tensor_data

__all__ = ["EXTENSIONS", "add_oip_routes", "is_image_model", "model_metadata"]

EXTENSIONS = ["binary_tensor_data"]
HEADER_LENGTH = "Inference-Header-Content-Length"


def is_image_model(input_shape: list[int]) -> bool:
    """Whether the model takes images (``[channels, height, width]`` with 1, 3 or 4 channels)."""
    return len(input_shape) == 3 and input_shape[0] in (1, 3, 4)


def model_metadata(model: ServedModel, version: Version) -> dict[str, Any]:
    """The protocol's model metadata for one version."""
    predictor = version.predictor
    inputs = [{"name": "input", "datatype": "FP32", "shape": [-1, *predictor.input_shape]}]
    if is_image_model(list(predictor.input_shape)):
        inputs.append({"name": "image", "datatype": "BYTES", "shape": [-1]})
    return {"name": model.name, "versions": list(model.versions), "platform": f"flexzoo_{predictor.runtime}",
            "inputs": inputs, "outputs": [{"name": head, "datatype": "FP32", "shape": [-1, *spec.output_shape[1:]]}
                                          for head, spec in predictor.heads.items()]}


def _request(body: bytes, header_length: str | None) -> tuple[dict[str, Any], bytes]:
    header, tail = split_binary(body, header_length)
    payload = parse_json(header, 'send {"inputs": [{"name": "input", "shape": [...], "datatype": "FP32", '
                                 '"data": [...]}]}')
    if not isinstance(payload, dict) or not isinstance(payload.get("inputs"), list):
        raise Problem(400, "the inference request needs `inputs`: a list with one tensor")
    for key, kind, word in (("outputs", list, "list"), ("parameters", dict, "object"), ("id", str, "string")):
        if key in payload and not isinstance(payload[key], kind):
            raise Problem(400, f"`{key}` must be a JSON {word}")
    return payload, tail


def _binary_parts(tensors: list[dict[str, Any]], tail: bytes) -> list[bytes | None]:
    """Each input's share of the binary tail (None for an input given in JSON)."""
    parts: list[bytes | None] = []
    offset = 0
    for tensor in tensors:
        size = (tensor.get("parameters") or {}).get("binary_data_size")
        if size is None:
            parts.append(None)
            continue
        if not isinstance(size, int) or isinstance(size, bool) or size < 0 or offset + size > len(tail):
            raise Problem(422, f"input {json_text(tensor.get('name'))}: binary_data_size {json_text(size)} does not "
                               f"fit the {len(tail):,} bytes after the JSON header")
        parts.append(tail[offset:offset + size])
        offset += size
    if offset != len(tail):
        raise Problem(422, f"{len(tail) - offset:,} bytes after the JSON header belong to no input")
    return parts


def _batch(payload: dict[str, Any], tail: bytes, version: Version, max_batch_size: int) -> np.ndarray:
    tensors = payload["inputs"]
    if len(tensors) != 1 or not isinstance(tensors[0], dict):
        raise Problem(400, f"the request needs exactly one input tensor, `input` (or `image`), got {len(tensors)}")
    tensor = tensors[0]
    if not isinstance(tensor.get("parameters", {}), dict):
        raise Problem(400, "an input's `parameters` must be a JSON object")
    (binary,) = _binary_parts(tensors, tail)
    predictor = version.predictor
    shape = list(predictor.input_shape)
    name = tensor.get("name")
    where = f"input {json_text(name)}"
    if name == "image" and is_image_model(shape):
        if tensor.get("datatype") != "BYTES":
            raise Problem(422, f"{where}: an image input has datatype BYTES")
        images = decode_bytes(tensor, binary, where)
        _check_batch(len(images), max_batch_size, where)
        return np.stack([image_input(data, shape, predictor.preprocessing, f"{where}[{i}]").array
                         for i, data in enumerate(images)])
    if name != "input":
        images = " or `image` (BYTES, encoded images)" if is_image_model(shape) else ""
        raise Problem(400, f"no input named {json_text(name)}; this model takes `input`{images}")
    array = tensor_data(tensor, binary, where)
    if list(array.shape[1:]) != shape or array.ndim == 0:
        raise Problem(422, f"{where}: shape {list(array.shape)} is not [N, {', '.join(map(str, shape))}]")
    _check_batch(array.shape[0], max_batch_size, where)
    return as_batch(array, shape, where)


def _check_batch(size: int, max_batch_size: int, where: str) -> None:
    if not 1 <= size <= max_batch_size:
        raise Problem(422, f"{where}: a batch of {size}; this server takes 1 to {max_batch_size} "
                           "samples per request (zoo serve --max-batch-size)")


def _outputs(payload: dict[str, Any], version: Version) -> dict[str, bool]:
    """The outputs to answer with, each with whether its data go binary."""
    heads = list(version.predictor.heads)
    every = (payload.get("parameters") or {}).get("binary_data_output") is True
    if "outputs" not in payload:
        return dict.fromkeys(heads, every)
    chosen: dict[str, bool] = {}
    for output in payload["outputs"]:
        if not isinstance(output, dict) or output.get("name") not in heads:
            name = json_text(output.get("name") if isinstance(output, dict) else output)
            raise Problem(400, f"no output named {name}; the outputs are {', '.join(heads)}")
        parameters = output.get("parameters") or {}
        chosen[output["name"]] = every or (isinstance(parameters, dict) and parameters.get("binary_data") is True)
    return chosen


def add_oip_routes(app: FastAPI, store: ModelStore, max_body_bytes: int, max_batch_size: int) -> None:
    """Route the protocol's ``/v2`` endpoints on ``app``."""

    def ready_now() -> bool:
        return not app.state.draining and bool(store.models)

    @app.get("/v2/health/live", include_in_schema=False)
    async def live() -> dict[str, bool]:
        return {"live": True}

    @app.get("/v2/health/ready", include_in_schema=False)
    async def ready() -> JSONResponse:
        return JSONResponse({"ready": ready_now()}, status_code=200 if ready_now() else 400)

    @app.get("/v2", include_in_schema=False)
    async def server_metadata() -> dict[str, Any]:
        return {"name": "flexzoo", "version": __version__, "extensions": EXTENSIONS}

    @app.get("/v2/models/{name}", include_in_schema=False)
    async def metadata(name: str) -> dict[str, Any]:
        model = store.get(name)
        return model_metadata(model, model.get())

    @app.get("/v2/models/{name}/versions/{version}", include_in_schema=False)
    async def version_metadata(name: str, version: str) -> dict[str, Any]:
        model = store.get(name)
        return model_metadata(model, model.get(version))

    def model_ready(name: str, version: str | None) -> JSONResponse:
        store.get(name).get(version)  # 404 for an unknown model or version
        return JSONResponse({"name": name, "ready": ready_now()}, status_code=200 if ready_now() else 400)

    @app.get("/v2/models/{name}/ready", include_in_schema=False)
    async def ready_model(name: str) -> JSONResponse:
        return model_ready(name, None)

    @app.get("/v2/models/{name}/versions/{version}/ready", include_in_schema=False)
    async def ready_version(name: str, version: str) -> JSONResponse:
        return model_ready(name, version)

    async def infer(request: Request, name: str, version_label: str | None) -> Response:
        async def read(version: Version) -> tuple[np.ndarray, tuple[dict[str, Any], dict[str, bool]]]:
            body = await read_body(request, max_body_bytes)
            payload, tail = _request(body, request.headers.get(HEADER_LENGTH))
            chosen = _outputs(payload, version)
            return _batch(payload, tail, version, max_batch_size), (payload, chosen)

        version, (payload, chosen), outputs = await run(store, name, version_label, read)
        tensors, raw = [], []
        for head, binary in chosen.items():
            tensor, data = encode_output(head, outputs[head].astype(np.float32), binary)
            tensors.append(tensor)
            raw.append(data)
        answer: dict[str, Any] = {"model_name": name, "model_version": version.version, "outputs": tensors}
        if "id" in payload:
            answer["id"] = payload["id"]
        if not any(chosen.values()):
            return JSONResponse(answer)
        header = JSONResponse(answer).body
        return Response(header + b"".join(raw), media_type="application/octet-stream",
                        headers={HEADER_LENGTH: str(len(header))})

    @app.post("/v2/models/{name}/infer", include_in_schema=False)
    async def infer_current(name: str, request: Request) -> Response:
        return await infer(request, name, None)

    @app.post("/v2/models/{name}/versions/{version}/infer", include_in_schema=False)
    async def infer_version(name: str, version: str, request: Request) -> Response:
        return await infer(request, name, version)
