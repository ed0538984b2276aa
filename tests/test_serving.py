"""``zoo serve``: a real server process on 127.0.0.1, real HTTP requests."""

from __future__ import annotations

import asyncio
import http.client
import io
import json
import shutil
import socket
import subprocess
import sys
import textwrap
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pytest
import torch
from serving_helpers import TRAP_MANIFEST, TRAP_PLUGIN, Server, multipart, server_env

import flexzoo
from conftest import DIGITS, TINY_MANIFEST
from flexzoo.inputs.images import decode_image
from flexzoo.testing import read_artifact
from flexzoo.testing.distributions import make_distribution

pytestmark = [pytest.mark.slow, pytest.mark.processes]  # servers, ranks, signals: `make test-flaky` runs them 10 times
LIMIT = 100_000
STATIC_INT8 = '\n[[compress]]\nuse = "quantize_int8"\nmode = "static"\ncalibration_batches = 1\n'


def _manifest(tmp: Path, name: str, seed: int) -> Path:
    text = TINY_MANIFEST.replace('name = "tiny"', f'name = "{name}"').replace("seed = 0", f"seed = {seed}")
    path = tmp / f"{name}-{seed}.toml"
    path.write_text(textwrap.dedent(text))
    return path


def _artifact(tmp: Path, name: str, seed: int, steps: str = "") -> Path:
    manifest = _manifest(tmp, name, seed)
    manifest.write_text(manifest.read_text() + steps)
    return flexzoo.save(flexzoo.build(manifest), tmp / f"{name}-{seed}", export=False)


def expected(artifact: Path, x: np.ndarray) -> dict[str, np.ndarray]:
    with torch.no_grad():
        return {k: v.numpy() for k, v in flexzoo.load(artifact)(torch.from_numpy(x)).items()}


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("serve")
    site = tmp / "site"
    make_distribution(site, "flexzoo-plugin-trap", "0.3.0", {"trap_plugin": TRAP_PLUGIN}, {"trap": "trap_plugin"})
    env = server_env(site)
    (tmp / "trap.toml").write_text(TRAP_MANIFEST)
    built = subprocess.run([sys.executable, "-m", "flexzoo", "build", str(tmp / "trap.toml"), "-o", str(tmp)],
                           env=env, capture_output=True, text=True)
    assert built.returncode == 0, built.stderr
    artifacts = {"v1": _artifact(tmp, "tiny", 0), "v2": _artifact(tmp, "tiny", 1),
                 "watched-v1": _artifact(tmp, "watched", 0), "watched-v2": _artifact(tmp, "watched", 1),
                 "trap": tmp / "trap.safetensors", "int8": _artifact(tmp, "quantized", 0, STATIC_INT8)}
    tampered = tmp / "tampered" / "tiny.safetensors"
    tampered.parent.mkdir()
    data = bytearray(artifacts["v2"].read_bytes())
    data[-5] ^= 0xFF  # a weight byte: the hash no longer matches
    tampered.write_bytes(bytes(data))
    artifacts["tampered"] = tampered
    watch = tmp / "watch"
    watch.mkdir()
    shutil.copy(artifacts["watched-v1"], watch / "watched.safetensors")
    return {"tmp": tmp, "env": env, "artifacts": artifacts, "watch": watch}


@pytest.fixture(scope="module")
def server(setup):
    a = setup["artifacts"]
    server = Server([str(a["v1"]), str(a["trap"]), str(a["int8"]), "--max-wait-ms", "100",
                     "--max-body-bytes", str(LIMIT), "--watch", str(setup["watch"]), "--watch-interval", "0.2",
                     "--model-dir", str(setup["tmp"])],
                    setup["env"])
    yield server
    server.stop()


def test_predictions_equal_flexzoo_load(server, setup):
    x = np.random.default_rng(0).random((3, 1, 8, 8), dtype=np.float32)
    status, body = server.post("/v1/models/tiny/predict", {"inputs": x.tolist(), "top_k": 3})
    assert status == 200, body
    want = expected(setup["artifacts"]["v1"], x)
    for head, value in want.items():
        np.testing.assert_allclose(np.array(body["outputs"][head]), value, rtol=0, atol=1e-6)
        assert [p[head]["label"] for p in body["predictions"]] == [str(i) for i in value.argmax(1)]
        assert len(body["predictions"][0][head]["top_k"]) == min(3, value.shape[1])


def test_a_static_int8_artifact_is_served_as_it_is(server, setup):
    artifact = setup["artifacts"]["int8"]
    stored = {entry["dtype"] for entry in read_artifact(artifact).header.tensors.values()}
    assert "I8" in stored  # the weights on disk are int8; the server loads them without dequantizing first
    x = np.random.default_rng(2).random((3, 1, 8, 8), dtype=np.float32)
    status, body = server.post("/v1/models/quantized/predict", {"inputs": x.tolist()})
    assert status == 200, body
    for head, value in expected(artifact, x).items():
        np.testing.assert_allclose(np.array(body["outputs"][head]), value, rtol=0, atol=1e-6, err_msg=head)


def test_the_auto_runtime_serves_the_fastest_runtime_that_matches_eager(setup):
    artifact = flexzoo.save(flexzoo.build(DIGITS), setup["tmp"] / "auto", export=False)
    name = read_artifact(artifact).manifest["model"]["name"]
    env = {**setup["env"], "FLEXZOO_AUTO_RUNTIMES": "eager,onnx"}  # compiling would take a minute on 2 cores
    server = Server([str(artifact), "--runtime", "auto", "--max-batch-size", "8"], env, timeout=300)
    try:
        version = server.get(f"/v1/models/{name}")[1]["versions"][0]
        choice = version["runtime_choice"]
        timed = choice["milliseconds_per_sample"]
        assert choice["requested"] == "auto" and choice["batch_size"] == 8 and choice["batch_sizes"] == [1, 2, 4, 8]
        assert version["runtime"] == choice["chosen"] == min(timed, key=timed.get)
        assert set(timed) == set(choice["wall_milliseconds_per_sample"]) == {"eager", "onnx"} and not choice["rejected"]
        shape = read_artifact(artifact).card["input_shape"]
        x = np.random.default_rng(4).random((3, *shape), dtype=np.float32)
        status, body = server.post(f"/v1/models/{name}/predict", {"inputs": x.tolist()})
        assert status == 200, body
        for head, value in expected(artifact, x).items():
            np.testing.assert_allclose(np.array(body["outputs"][head]), value, rtol=0, atol=1e-4, err_msg=head)
    finally:
        assert server.stop() == 0
    assert any(f"runtime auto chose {choice['chosen']}" in line for line in server.log)


def test_the_compile_runtime_serves_what_flexzoo_load_gives(setup):
    artifact = setup["artifacts"]["v1"]
    server = Server([str(artifact), "--runtime", "compile"], setup["env"], timeout=300)
    try:
        assert server.get("/v1/models/tiny")[1]["versions"][0]["runtime"] == "compile"
        x = np.random.default_rng(3).random((3, 1, 8, 8), dtype=np.float32)
        status, body = server.post("/v1/models/tiny/predict", {"inputs": x.tolist()})
        assert status == 200, body
        for head, value in expected(artifact, x).items():
            np.testing.assert_allclose(np.array(body["outputs"][head]), value, rtol=0, atol=1e-5, err_msg=head)
    finally:
        assert server.stop() == 0


def test_image_upload_is_decoded_resized_and_scaled(server, setup):
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.arange(16 * 16 * 3, dtype=np.uint8).reshape(16, 16, 3)).save(buffer, format="PNG")
    body, content_type = multipart("file", "x.png", buffer.getvalue())
    status, answer = server.request("POST", "/v1/models/tiny/predict", body, content_type)
    assert status == 200, answer
    x = decode_image(buffer.getvalue(), (1, 8, 8))[None]
    np.testing.assert_allclose(answer["outputs"]["digit"], expected(setup["artifacts"]["v1"], x)["digit"], atol=1e-6)


def test_concurrent_requests_are_merged_into_batches(server):
    before = server.metric("flexzoo_batch_size_count", model="tiny", version="0.1.0")
    samples_before = server.metric("flexzoo_batch_size_sum", model="tiny", version="0.1.0")
    x = np.zeros((1, 1, 8, 8)).tolist()
    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda _: server.post("/v1/models/tiny/predict", {"inputs": x}), range(16)))
    assert [status for status, _ in answers] == [200] * 16
    batches = server.metric("flexzoo_batch_size_count", model="tiny", version="0.1.0") - before
    samples = server.metric("flexzoo_batch_size_sum", model="tiny", version="0.1.0") - samples_before
    assert samples == 16
    assert batches < 16, f"16 concurrent requests ran in {batches} model calls"


@pytest.mark.parametrize(("body", "content_type", "status", "message"), [
    (b'{"inputs": [1, 2', "application/json", 400, "the body is not valid JSON"),
    (b'{"values": []}', "application/json", 400, "the JSON body needs the key `inputs`"),
    (b'{"inputs": [[1, 2, 3]]}', "application/json", 422, "expected shape [1, 8, 8] (one sample)"),
    (b'{"inputs": [[["a"]]]}', "application/json", 422, "expected numbers, got values of type"),
    (b"not an image", "image/png", 422, "the uploaded image: cannot decode the image (UnidentifiedImageError: not "
                                        "an image format Pillow can read)"),
    (b"x" * (LIMIT + 1), "application/json", 413, "over the limit of 100,000"),
])
def test_bad_input_is_a_4xx_with_one_message(server, body, content_type, status, message):
    got, answer = server.request("POST", "/v1/models/tiny/predict", body, content_type)
    assert (got, message in answer["error"]) == (status, True), answer
    assert server.post("/v1/models/tiny/predict", {"inputs": np.zeros((1, 8, 8)).tolist()})[0] == 200


@pytest.mark.parametrize("framing", ["chunked", "content-length"])
def test_an_over_limit_body_is_a_413_before_the_server_reads_it_all(server, framing):
    """The client sends just over the limit and then nothing more: a server that read to the end would hang."""
    url = urlsplit(server.url)
    header = "Transfer-Encoding: chunked" if framing == "chunked" else f"Content-Length: {100 * LIMIT}"
    chunk = b"x" * 10_000
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
        sock.sendall(f"POST /v1/models/tiny/predict HTTP/1.1\r\nHost: {url.netloc}\r\n"
                     f"Content-Type: application/json\r\n{header}\r\n\r\n".encode())
        for _ in range(LIMIT // len(chunk) + 1):  # the body never ends
            sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk) if framing == "chunked" else chunk)
        response = http.client.HTTPResponse(sock)
        response.begin()
        status, answer = response.status, json.loads(response.read())
    assert status == 413, answer
    assert "over the limit of 100,000" in answer["error"]
    assert server.post("/v1/models/tiny/predict", {"inputs": np.zeros((1, 8, 8)).tolist()})[0] == 200


def test_unknown_model_or_version_is_404(server):
    x = {"inputs": np.zeros((1, 8, 8)).tolist()}
    assert server.post("/v1/models/nope/predict", x) == (404, {"error": "no model `nope` is served; models: "
                                                                        "tiny, trap, quantized, watched"})
    status, answer = server.post("/v1/models/tiny/versions/9.9/predict", x)
    assert status == 404 and answer["error"].startswith("model `tiny` has no version `9.9`")


def test_a_model_that_raises_fails_only_that_request(server):
    good, bad = np.zeros((1, 8, 8)), np.full((1, 8, 8), 5000.0)
    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda x: server.post("/v1/models/trap/predict", {"inputs": x.tolist()}),
                                [good, bad, good, good, bad, good]))
    assert [status for status, _ in answers] == [200, 500, 200, 200, 500, 200]
    assert "failed on this request: RuntimeError: trap sprung" in answers[1][1]["error"]
    assert server.post("/v1/models/trap/predict", {"inputs": good.tolist()})[0] == 200


def test_reload_failed_reload_and_rollback(server, setup):
    a = setup["artifacts"]
    x = np.random.default_rng(1).random((2, 1, 8, 8), dtype=np.float32)

    def served() -> tuple[str, np.ndarray]:
        status, body = server.post("/v1/models/tiny/predict", {"inputs": x.tolist()})
        assert status == 200, body
        return body["version"], np.array(body["outputs"]["digit"])

    status, body = server.post("/admin/models/tiny/reload", {"path": str(a["v2"])})
    assert status == 200, body
    new = body["version"]
    assert new.startswith("0.1.0+") and body["previous"] == "0.1.0"
    version, digit = served()
    assert version == new
    np.testing.assert_allclose(digit, expected(a["v2"], x)["digit"], atol=1e-6)
    assert server.metric("flexzoo_model_version_info", model="tiny", version=new) == 1

    status, body = server.post("/admin/models/tiny/reload", {"path": str(a["tampered"])})
    assert status == 422 and "weights hash mismatch" in body["error"], body
    assert body["error"].endswith(f"still serving version {new}")
    assert served()[0] == new
    status, body = server.post("/admin/models/tiny/reload", {"path": str(a["trap"])})
    assert status == 422 and "holds model `trap`, not `tiny`" in body["error"]

    assert server.post("/admin/models/tiny/rollback", {}) == (200, {"model": "tiny", "version": "0.1.0"})
    version, digit = served()
    assert version == "0.1.0"
    np.testing.assert_allclose(digit, expected(a["v1"], x)["digit"], atol=1e-6)
    assert server.post(f"/v1/models/tiny/versions/{new}/predict", {"inputs": x.tolist()})[0] == 200
    status, body = server.post("/admin/models/tiny/rollback", {})
    assert status == 409 and "no previous version" in body["error"]


def test_a_new_artifact_in_the_watched_directory_is_served(server, setup):
    assert server.get("/v1/models/watched")[1]["version"] == "0.1.0"
    target = setup["watch"] / "watched.safetensors"
    shutil.copy(setup["artifacts"]["watched-v2"], setup["watch"] / "partial.tmp")
    (setup["watch"] / "partial.tmp").replace(target)
    deadline = time.monotonic() + 60
    while (version := server.get("/v1/models/watched")[1]["version"]) == "0.1.0":
        assert time.monotonic() < deadline, "the new artifact was never loaded"
        time.sleep(0.2)
    assert version.startswith("0.1.0+")
    assert server.post("/admin/models/watched/rollback", {})[1]["version"] == "0.1.0"


def test_openapi_describes_each_model_from_its_artifact(server):
    schema = server.get("/openapi.json")[1]
    operation = schema["paths"]["/v1/models/tiny/predict"]["post"]
    request = operation["requestBody"]["content"]["application/json"]["schema"]
    sample = request["properties"]["inputs"]["oneOf"][0]
    assert (sample["minItems"], sample["items"]["minItems"], sample["items"]["items"]["minItems"]) == (1, 8, 8)
    heads = operation["responses"]["200"]["content"]["application/json"]["schema"]["properties"]["predictions"]
    assert sorted(heads["items"]["properties"]) == ["digit", "parity"]


def test_health_ready_and_metrics(server):
    assert server.get("/health") == (200, {"status": "ok"})
    assert server.get("/ready")[1]["ready"] is True
    assert server.metric("flexzoo_requests_total", model="tiny", status="200") > 0


def test_connections_get_tcp_nodelay_so_a_small_answer_is_not_held_back():
    """Without TCP_NODELAY, Nagle's algorithm and the client's delayed ACK add about 40 ms to each answer."""
    from flexzoo.serving.server import _listen

    async def accepted_nodelay() -> int:
        seen: asyncio.Future = asyncio.get_running_loop().create_future()

        class Accept(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                sock = transport.get_extra_info("socket")
                seen.set_result(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
                transport.close()

        listener = _listen("127.0.0.1", 0)  # what uvicorn is given: it serves on it with loop.create_server
        server = await asyncio.get_running_loop().create_server(Accept, sock=listener)
        async with server:
            _, writer = await asyncio.open_connection(*listener.getsockname()[:2])
            value = await asyncio.wait_for(seen, 10)
            writer.close()
        return value

    assert asyncio.run(accepted_nodelay()) != 0


def test_sigterm_drains_requests_in_flight_then_exits_0(setup):
    server = Server([str(setup["artifacts"]["trap"])], setup["env"])
    answer: dict = {}
    slow = threading.Thread(target=lambda: answer.update(
        result=server.post("/v1/models/trap/predict", {"inputs": np.full((1, 8, 8), -5000.0).tolist()})))
    slow.start()
    time.sleep(0.5)  # the request is in the model (it takes 2 s)
    started = time.monotonic()
    assert server.stop() == 0
    slow.join()
    assert answer["result"][0] == 200, answer
    assert time.monotonic() - started >= 1.0


def test_the_heap_is_frozen_once_loaded_and_settled_again_when_a_dropped_version_is_done(setup, tmp_path):
    """Serving's garbage collections skip what loading made (flexzoo.serving.heap); dropping a version thaws the
    heap, and once the version's batcher has closed the heap is collected, which frees the dropped version and
    what it left in reference cycles, and frozen again."""
    import asyncio
    import gc
    import weakref

    from flexzoo.prediction import Predictor
    from flexzoo.serving import heap, models
    from flexzoo.serving.metrics import Metrics
    from flexzoo.serving.models import ModelStore

    a = setup["artifacts"]
    store = ModelStore(ThreadPoolExecutor(1), Metrics(), keep_versions=2, loader=Predictor.load, monitoring=None)
    try:
        for path in (a["v1"], a["v2"]):
            store.install(store.load_checked(path), path)
        heap.settle()
        frozen = gc.get_freeze_count()
        assert frozen > 100_000  # torch and the loaded models
        assert len(gc.get_objects()) < frozen / 10  # what a collection walks now
        oldest = weakref.ref(next(iter(store.get("tiny").versions.values())).predictor)
        third = _artifact(tmp_path, "tiny", 2)

        async def install_a_third_version() -> tuple[int, int]:
            store.install(store.load_checked(third), third)  # the oldest version is dropped
            thawed, closing = gc.get_freeze_count(), len(models._CLOSING)  # its closing task is held
            for _ in range(500):  # its batcher closes on the loop, then the heap settles
                await asyncio.sleep(0.01)
                if gc.get_freeze_count():
                    break
            return thawed, closing

        assert asyncio.run(install_a_third_version()) == (0, 1)
        assert not models._CLOSING  # let go once done
        assert len(store.get("tiny").versions) == 2
        assert oldest() is None  # collected: the dropped version is not frozen with the rest
        assert gc.get_freeze_count() > 100_000 and len(gc.get_objects()) < gc.get_freeze_count() / 10
    finally:
        gc.unfreeze()
