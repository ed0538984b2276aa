"""The Open Inference Protocol (v2 REST) beside ``/v1``, spoken by a real client of it (``tritonclient.http``)
to a real server: health, metadata, typed tensors in JSON and binary, versions, shared batcher and metrics."""

from __future__ import annotations

import base64
import io
import shutil
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pytest
import tritonclient.http as httpclient  # a dev dependency (`pip install -e '.[dev]'`): a real client of the protocol
from serving_helpers import Server, server_env
from tritonclient.utils import InferenceServerException

import flexzoo
from conftest import TINY_MANIFEST

pytestmark = [pytest.mark.slow, pytest.mark.processes]
HEADS = ["digit", "parity"]


@pytest.fixture(scope="module")
def place(tmp_path_factory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("oip")
    models = tmp / "models"
    models.mkdir()
    for seed in (0, 1):
        manifest = tmp / f"tiny-{seed}.toml"
        manifest.write_text(textwrap.dedent(TINY_MANIFEST).replace("seed = 0", f"seed = {seed}"))
        built = flexzoo.save(flexzoo.build(manifest), tmp / "built" / f"tiny-{seed}", export=False)
        shutil.copy(built, models / f"tiny-{seed}.safetensors")
    return {"tmp": tmp, "models": models}


@pytest.fixture(scope="module")
def server(place):
    server = Server([str(place["models"] / "tiny-0.safetensors"), "--model-dir", str(place["models"]),
                     "--max-wait-ms", "50"], server_env(place["tmp"]))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def client(server):
    client = httpclient.InferenceServerClient(urlsplit(server.url).netloc, network_timeout=60)
    yield client
    client.close()


def _v1(server: Server, x: np.ndarray, version: str | None = None) -> dict[str, np.ndarray]:
    path = f"/v1/models/tiny/versions/{version}/predict" if version else "/v1/models/tiny/predict"
    status, body = server.post(path, {"inputs": x.tolist()})
    assert status == 200, body
    return {head: np.array(value, dtype=np.float32) for head, value in body["outputs"].items()}


def _infer(client, x: np.ndarray, datatype: str, binary: bool, version: str = "", outputs: list[str] | None = None):
    tensor = httpclient.InferInput("input", list(x.shape), datatype)
    tensor.set_data_from_numpy(x, binary_data=binary)
    requested = [httpclient.InferRequestedOutput(name, binary_data=binary) for name in outputs] if outputs else None
    return client.infer("tiny", [tensor], model_version=version, outputs=requested)


def test_health_and_server_metadata(client):
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready("tiny") and not client.is_model_ready("nope")
    metadata = client.get_server_metadata()
    assert (metadata["name"], metadata["extensions"]) == ("flexzoo", ["binary_tensor_data"])


def test_model_metadata_names_datatypes_and_shapes(client):
    metadata = client.get_model_metadata("tiny")
    assert metadata["name"] == "tiny" and metadata["versions"] == ["0.1.0"]
    assert metadata["inputs"] == [{"name": "input", "datatype": "FP32", "shape": [-1, 1, 8, 8]},
                                  {"name": "image", "datatype": "BYTES", "shape": [-1]}]
    assert metadata["outputs"] == [{"name": "digit", "datatype": "FP32", "shape": [-1, 10]},
                                   {"name": "parity", "datatype": "FP32", "shape": [-1, 2]}]
    assert client.get_model_metadata("tiny", "0.1.0") == metadata


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_fp32_outputs_equal_v1s_for_the_same_inputs(server, client, binary):
    x = np.random.default_rng(0).random((3, 1, 8, 8), dtype=np.float32)
    result = _infer(client, x, "FP32", binary, outputs=HEADS)
    want = _v1(server, x)
    for head in HEADS:
        got = result.as_numpy(head)
        assert got.dtype == np.float32 and got.shape == want[head].shape
        np.testing.assert_allclose(got, want[head], rtol=0, atol=1e-6, err_msg=head)


def test_outputs_are_binary_by_default_for_tritonclient(server, client):
    """With no outputs named, tritonclient asks for every output in binary (``binary_data_output``)."""
    x = np.random.default_rng(1).random((2, 1, 8, 8), dtype=np.float32)
    result = _infer(client, x, "FP32", binary=True)
    assert [o["name"] for o in result.get_response()["outputs"]] == HEADS
    assert all("binary_data_size" in o["parameters"] for o in result.get_response()["outputs"])
    np.testing.assert_allclose(result.as_numpy("digit"), _v1(server, x)["digit"], rtol=0, atol=1e-6)


@pytest.mark.parametrize("datatype", ["INT64", "UINT8", "FP64", "FP16", "INT32"])
def test_typed_inputs_are_read_as_v1_reads_the_same_values(server, client, datatype):
    values = np.random.default_rng(2).integers(0, 16, (2, 1, 8, 8))  # digits' pixel range, exact in every type
    x = values.astype(np.dtype(datatype.lower().replace("fp", "float")))
    for binary in (True, False):
        result = _infer(client, x, datatype, binary, outputs=["digit"])
        np.testing.assert_allclose(result.as_numpy("digit"), _v1(server, values.astype(np.float32))["digit"],
                                   rtol=0, atol=1e-6, err_msg=f"{datatype} binary={binary}")


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_bytes_images_equal_v1s_raw_image_answer(server, client, binary):
    from PIL import Image

    images = []
    for value in (0, 90):
        buffer = io.BytesIO()
        Image.fromarray(np.arange(256, dtype=np.uint8).reshape(16, 16) + value).save(buffer, format="PNG")
        images.append(buffer.getvalue())
    tensor = httpclient.InferInput("image", [2], "BYTES")
    if binary:
        tensor.set_data_from_numpy(np.array(images, dtype=np.object_), binary_data=True)
    else:  # in JSON a BYTES element is base64 text
        tensor.set_data_from_numpy(np.array([base64.b64encode(i) for i in images], dtype=np.object_),
                                   binary_data=False)
    result = client.infer("tiny", [tensor], outputs=[httpclient.InferRequestedOutput("digit", binary_data=binary)])
    for row, image in enumerate(images):
        status, answer = server.request("POST", "/v1/models/tiny/predict", image, "application/octet-stream")
        assert status == 200, answer
        np.testing.assert_allclose(result.as_numpy("digit")[row], answer["outputs"]["digit"][0], rtol=0, atol=1e-6)


def test_versions_are_shared_with_v1(server, client, place):
    status, body = server.post("/admin/models/tiny/reload", {"path": str(place["models"] / "tiny-1.safetensors")})
    assert status == 200, body
    new, old = body["version"], "0.1.0"
    try:
        assert client.get_model_metadata("tiny")["versions"] == [old, new]
        assert client.is_model_ready("tiny", new)
        x = np.random.default_rng(3).random((2, 1, 8, 8), dtype=np.float32)
        for version in (new, old):
            result = _infer(client, x, "FP32", True, version=version, outputs=["digit"])
            assert result.get_response()["model_version"] == version
            np.testing.assert_allclose(result.as_numpy("digit"), _v1(server, x, version)["digit"], rtol=0, atol=1e-6)
        current = _infer(client, x, "FP32", True, outputs=["digit"])
        assert current.get_response()["model_version"] == new
    finally:
        assert server.post("/admin/models/tiny/rollback", {})[0] == 200


def test_v2_requests_share_the_batcher_and_the_metrics(server, client):
    requests = server.metric("flexzoo_requests_total", model="tiny", version="0.1.0", status="200")
    calls = server.metric("flexzoo_batch_size_count", model="tiny", version="0.1.0")
    samples = server.metric("flexzoo_batch_size_sum", model="tiny", version="0.1.0")
    x = np.zeros((1, 1, 8, 8), dtype=np.float32)

    def one(i: int) -> int:
        if i % 2:
            return len(_v1(server, x)["digit"])
        local = httpclient.InferenceServerClient(urlsplit(server.url).netloc, network_timeout=60)
        try:
            return len(_infer(local, x, "FP32", True, outputs=["digit"]).as_numpy("digit"))
        finally:
            local.close()

    with ThreadPoolExecutor(12) as pool:
        assert list(pool.map(one, range(12))) == [1] * 12
    assert server.metric("flexzoo_requests_total", model="tiny", version="0.1.0", status="200") - requests == 12
    assert server.metric("flexzoo_batch_size_sum", model="tiny", version="0.1.0") - samples == 12
    assert server.metric("flexzoo_batch_size_count", model="tiny", version="0.1.0") - calls < 12


@pytest.mark.parametrize(("shape", "data", "message"), [
    ([1, 1, 8], [0.0] * 8, "shape [1, 1, 8] is not [N, 1, 8, 8]"),
    ([1, 1, 8, 8], [0.0] * 3, "`data` holds 3 values, shape [1, 1, 8, 8] needs 64"),
    ([1, 1, 8, 8], ["a"] * 64, "the data of a FP32 tensor must be numbers"),
    ([40, 1, 8, 8], [0.0] * 2560,
     "a batch of 40; this server takes 1 to 32 samples per request (zoo serve --max-batch-size)")])
def test_a_bad_tensor_is_a_422_that_says_what_to_fix(server, shape, data, message):
    payload = {"inputs": [{"name": "input", "shape": shape, "datatype": "FP32", "data": data}]}
    status, body = server.post("/v2/models/tiny/infer", payload)
    assert (status, body) == (422, {"error": f'input "input": {message}'})


def test_errors_reach_tritonclient_with_their_message(server, client):
    with pytest.raises(InferenceServerException, match="no model `nope` is served"):
        client.get_model_metadata("nope")
    tensor = httpclient.InferInput("pixels", [1, 1, 8, 8], "FP32")
    tensor.set_data_from_numpy(np.zeros((1, 1, 8, 8), dtype=np.float32))
    with pytest.raises(InferenceServerException, match="no input named \"pixels\"; this model takes `input`"):
        client.infer("tiny", [tensor])
    status, body = server.post("/v2/models/tiny/infer", {"inputs": []})
    assert (status, body["error"]) == (400, "the request needs exactly one input tensor, `input` (or `image`), got 0")
