"""``zoo serve``'s OpenAPI document tells the truth: Schemathesis ``--checks all`` against a real server, and
the answers it is hardest on (405s, malformed bodies of any depth, raw images, messages without reprs)."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
import textwrap
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from serving_helpers import Server, multipart, server_env

import flexzoo
from conftest import TINY_MANIFEST

pytestmark = [pytest.mark.slow, pytest.mark.processes]

# Schemathesis's positive_data_acceptance takes its default statuses plus 422: a body the schema's types allow
# whose content cannot be used (random bytes sent as an image, tensor data that does not fill its shape)
# is "Unprocessable Content". JSON Schema cannot say "a decodable image"; every other check runs as it comes.
SCHEMATHESIS_CONFIG = """
[checks.positive_data_acceptance]
expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "422", "429", "5xx"]
"""


@pytest.fixture(scope="module")
def place(tmp_path_factory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("contract")
    manifest = tmp / "tiny.toml"
    manifest.write_text(textwrap.dedent(TINY_MANIFEST))
    built = flexzoo.save(flexzoo.build(manifest), tmp / "built" / "tiny", export=False)
    models = tmp / "models"
    models.mkdir()
    shutil.copy(built, models / "tiny.safetensors")
    return {"tmp": tmp, "models": models, "artifact": models / "tiny.safetensors"}


@pytest.fixture(scope="module")
def server(place):
    server = Server([str(place["artifact"]), "--model-dir", str(place["models"]), "--max-batch-size", "4",
                     "--max-body-bytes", "200000"], server_env(place["tmp"]))
    yield server
    server.stop()


def _png(value: int = 128) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.arange(64, dtype=np.uint8).reshape(8, 8) + value).save(buffer, format="PNG")
    return buffer.getvalue()


def test_schemathesis_checks_all_find_nothing(server, tmp_path):
    config = tmp_path / "schemathesis.toml"
    config.write_text(SCHEMATHESIS_CONFIG)
    st = Path(sys.executable).with_name("st")
    result = subprocess.run(
        [str(st), "--config-file", str(config), "run", f"{server.url}/openapi.json", "--checks", "all",
         "--max-examples", "8", "--max-time", "40", "--seed", "1", "--no-shrink", "--workers", "1",
         "--request-timeout", "20"],
        capture_output=True, text=True, timeout=150, cwd=tmp_path)
    failures = result.stdout[result.stdout.find("FAILURES"):][:6000]
    assert result.returncode == 0, failures + result.stderr[-2000:] + "".join(server.log)[-4000:]
    assert "Operations:" in result.stdout and "22 selected / 22 total" in result.stdout, result.stdout[:2000]
    assert server.get("/health")[0] == 200  # and the server is still up


def test_the_document_declares_metrics_as_prometheus_text_and_the_server_answers_so(server):
    operation = server.get("/openapi.json")[1]["paths"]["/metrics"]["get"]
    assert list(operation["responses"]["200"]["content"]) == ["text/plain"]
    with urllib.request.urlopen(server.url + "/metrics", timeout=10) as response:
        assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        assert b"# TYPE flexzoo_requests_total counter" in response.read()


@pytest.mark.parametrize(("method", "path", "allowed"), [
    ("PUT", "/v1/models/tiny/predict", "POST"), ("DELETE", "/health", "GET"),
    ("PATCH", "/v2/models/tiny/infer", "POST"), ("TRACE", "/admin/models", "POST")])
def test_a_method_a_route_does_not_take_is_a_405_with_allow(server, method, path, allowed):
    request = urllib.request.Request(server.url + path, method=method)
    try:
        urllib.request.urlopen(request, timeout=10)
        raise AssertionError(f"{method} {path} was answered")
    except urllib.error.HTTPError as error:
        assert (error.code, error.headers["Allow"]) == (405, allowed)


@pytest.mark.parametrize("depth", [1_000, 100_000])
@pytest.mark.parametrize("path", ["/v1/models/tiny/predict", "/v2/models/tiny/infer"])
def test_json_nested_to_any_depth_is_a_400(server, path, depth):
    status, body = server.request("POST", path, b"[" * depth + b"]" * depth)
    assert status == 400, body
    status, body = server.request("POST", path, b'{"inputs": ' + b"[" * depth + b"]" * depth + b"}")
    assert 400 <= status < 500, body
    assert "Recursion" not in body["error"]


@pytest.mark.parametrize("content_type", ["application/octet-stream", "application/json", "text/plain", None])
def test_a_raw_image_is_recognized_by_its_bytes_whatever_the_content_type(server, content_type):
    image = _png()
    body, form_type = multipart("file", "x.png", image)
    _, uploaded = server.request("POST", "/v1/models/tiny/predict", body, form_type)
    status, raw = server.request("POST", "/v1/models/tiny/predict", image, content_type)
    assert status == 200, raw
    assert raw["outputs"] == uploaded["outputs"]


@pytest.mark.parametrize(("body", "content_type", "status"), [
    (b"\x00\x01 not an image", "application/octet-stream", 422),
    (b"GIF89a truncated", "image/gif", 422),
    (b"--b\r\nNone--b--\r\n", "multipart/form-data; boundary=b", 400),
    (b'{"inputs": [[[0]]], "top_k": "many"}', "application/json", 422),
    (b"\xff\xfe{", "application/json", 400)])
def test_client_messages_carry_no_python_repr(server, body, content_type, status):
    got, answer = server.request("POST", "/v1/models/tiny/predict", body, content_type)
    assert got == status, answer
    message = answer["error"]
    assert " object at 0x" not in message and "<_io." not in message and "b'" not in message, message


def test_top_k_is_echoed_as_json_not_as_a_python_repr(server):
    status, answer = server.post("/v1/models/tiny/predict", {"inputs": np.zeros((1, 8, 8)).tolist(), "top_k": "3"})
    assert (status, answer["error"]) == (422, '`top_k` must be an integer of at least 1, got "3"')


def test_every_route_the_server_answers_is_declared(server):
    """Each path and method FastAPI routes (bar FastAPI's own HEAD) is in the document, with its statuses."""
    paths = server.get("/openapi.json")[1]["paths"]
    declared = {(path, method.upper()) for path, item in paths.items() for method in item}
    concrete = {route.replace("{name}", "tiny") for route in (
        "/v1/models/{name}/predict", "/v1/models/{name}/versions/{version}/predict", "/v1/models/{name}/explain",
        "/v2/models/{name}/infer", "/v2/models/{name}/versions/{version}/infer")}
    for path in concrete:
        assert (path, "POST") in declared
    answered = json.loads(subprocess.run(
        [sys.executable, "-c", "import json, sys; from flexzoo.serving.app import create_app; "
         "from flexzoo.serving.models import ModelStore; from flexzoo.serving.metrics import Metrics; "
         "app = create_app(ModelStore(None, Metrics())); "
         "print(json.dumps([[r.path, sorted(r.methods - {'HEAD'})] for r in app.routes if hasattr(r, 'methods')]))"],
        capture_output=True, text=True, timeout=120, check=True).stdout)
    generic = {"/v1/models/{name}/predict", "/v1/models/{name}/versions/{version}/predict",
               "/v1/models/{name}/explain", "/v2/models/{name}/infer", "/v2/models/{name}/versions/{version}/infer"}
    for path, methods in answered:
        for method in methods:
            if path in generic:  # declared per served model, as above: each model's body differs
                continue
            assert (path, method) in declared, (path, method)


def test_explain_answers_attributions_over_the_input_for_each_sample(server):
    sample = (np.arange(64, dtype=np.float32).reshape(1, 8, 8) / 64).tolist()
    status, body = server.post("/v1/models/tiny/explain", {"inputs": [sample, sample], "method": "integrated-gradients",
                                                           "head": "parity", "target": 1, "settings": {"steps": 20}})
    assert status == 200, body
    assert (body["method"], body["head"], body["targets"]) == ("integrated_gradients", "parity", [1, 1])
    assert np.asarray(body["attributions"]).shape == (2, 1, 8, 8)
    assert body["settings"]["steps"] == 20 and "batch" in body["completeness_gap"]


@pytest.mark.parametrize(("payload", "status", "message"), [
    ({"method": "saliency"}, 400, "needs the key `inputs`"),
    ({"inputs": [[[0.0] * 8] * 8], "colour": 1}, 400, "unknown key `colour`"),
    ({"inputs": [[0.0] * 8]}, 422, "shape"),
    ({"inputs": [[[0.0] * 8] * 8], "method": "lime"}, 422, "lime"),
    ({"inputs": [[[0.0] * 8] * 8], "head": "colour"}, 422, "colour"),
    ({"inputs": [[[0.0] * 8] * 8], "target": [1]}, 400, "`target`"),
    ({"inputs": [[[0.0] * 8] * 8], "settings": {"steps": "many"}}, 422, "steps"),
])
def test_a_bad_explain_request_is_a_4xx_with_one_message(server, payload, status, message):
    answer, body = server.post("/v1/models/tiny/explain", payload)
    assert answer == status, body
    assert message in body["error"], body


def test_a_model_without_a_reference_profile_says_why_it_is_not_monitored(server):
    status, answer = server.get("/v1/models/tiny/monitor")
    assert status == 200 and answer["versions"][answer["version"]]["enabled"] is False
    assert "no reference profile" in answer["versions"][answer["version"]]["reason"]
    assert server.get("/v1/models/nope/monitor")[0] == 404
