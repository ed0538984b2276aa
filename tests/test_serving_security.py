"""``zoo serve``'s admin API locked down: off on an open bind without a token, a token compared whole,
loads confined to the model directories with one message for every refused path. Real servers, real HTTP."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from serving_helpers import Server, server_env

import flexzoo
from conftest import TINY_MANIFEST

pytestmark = [pytest.mark.slow, pytest.mark.processes]
TOKEN = "s3cret-token-of-32-characters-xx"
REFUSED = ("load refused: the path is not inside a model directory of this server; place the artifact in one of "
           "the directories given with --model-dir (or --watch) and send its path there")


@pytest.fixture(scope="module")
def place(tmp_path_factory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("admin")
    manifest = tmp / "tiny.toml"
    manifest.write_text(textwrap.dedent(TINY_MANIFEST))
    built = flexzoo.save(flexzoo.build(manifest), tmp / "built" / "tiny", export=False)
    models, outside = tmp / "models", tmp / "outside"
    models.mkdir()
    outside.mkdir()
    shutil.copy(built, models / "tiny.safetensors")
    shutil.copy(built, outside / "tiny.safetensors")
    (models / "escape.safetensors").symlink_to(outside / "tiny.safetensors")
    return {"tmp": tmp, "models": models, "outside": outside}


@pytest.fixture(scope="module")
def dockerfile_args(place: dict[str, Path]) -> list[str]:
    """The server arguments the generated Dockerfile's CMD gives, pointed at this machine's files (printed once
    for the module; each test copies the list)."""
    printed = subprocess.run([sys.executable, "-m", "flexzoo", "serve", str(place["models"] / "tiny.safetensors"),
                              "--print-dockerfile"], capture_output=True, text=True, timeout=120)
    assert printed.returncode == 0, printed.stderr
    assert "ADMIN_TOKEN=" not in printed.stdout.replace("-e FLEXZOO_ADMIN_TOKEN=", "")  # no token baked in
    command = json.loads(printed.stdout.rstrip().splitlines()[-1].removeprefix("CMD "))
    assert command[:2] == ["zoo", "serve"]
    local = {"/models/tiny.safetensors": str(place["models"] / "tiny.safetensors"), "/models": str(place["models"]),
             "8000": "0"}
    return [local.get(arg, arg) for arg in command[2:]]


def test_the_dockerfile_as_written_serves_with_admin_off(place, dockerfile_args):
    """Its CMD listens on 0.0.0.0 (the test reaches it on 127.0.0.1): /admin is not routed at all."""
    args = list(dockerfile_args)
    assert args[args.index("--host") + 1] == "0.0.0.0"
    env = {k: v for k, v in server_env(place["tmp"]).items() if k != "FLEXZOO_ADMIN_TOKEN"}
    server = Server(args, env)
    try:
        path = str(place["models"] / "tiny.safetensors")
        assert server.post("/admin/models", {"path": path})[0] == 404
        assert server.post("/admin/models/tiny/rollback", {})[0] == 404
        assert server.post("/admin/models/tiny/reload", {"path": "/etc/passwd"})[0] == 404
        assert not [p for p in server.get("/openapi.json")[1]["paths"] if p.startswith("/admin")]
        assert server.post("/v1/models/tiny/predict", {"inputs": [[[0.0] * 8] * 8]})[0] == 200
    finally:
        assert server.stop() == 0
    assert any("admin endpoints off: 0.0.0.0 is not loopback" in line for line in server.log)


def test_the_dockerfile_with_a_token_from_the_environment_guards_admin(place, dockerfile_args):
    args = list(dockerfile_args)
    server = Server(args, {**server_env(place["tmp"]), "FLEXZOO_ADMIN_TOKEN": TOKEN})
    try:
        path = str(place["models"] / "tiny.safetensors")
        assert server.post("/admin/models", {"path": path})[0] == 401
        status, body = server.post("/admin/models", {"path": path}, headers={"Authorization": f"Bearer {TOKEN}"})
        assert (status, body["model"]) == (200, "tiny"), body
        schema = server.get("/openapi.json")[1]
        assert schema["paths"]["/admin/models"]["post"]["security"] == [{"bearer": []}]
    finally:
        assert server.stop() == 0


@pytest.fixture(scope="module")
def guarded(place):
    server = Server([str(place["models"] / "tiny.safetensors"), "--model-dir", str(place["models"]),
                     "--admin-token", TOKEN], server_env(place["tmp"]))
    yield server
    server.stop()


@pytest.mark.parametrize("authorization", [None, "Bearer", f"Bearer {TOKEN[:-1]}", f"Bearer {TOKEN}x",
                                           f"bearer {TOKEN}", TOKEN, f"Basic {TOKEN}"])
def test_admin_needs_the_whole_token(guarded, authorization):
    headers = {"Authorization": authorization} if authorization else {}
    status, body = guarded.post("/admin/models/tiny/rollback", {}, headers=headers)
    assert status == 401, body
    assert body == {"error": "admin endpoints need `Authorization: Bearer <token>` (zoo serve --admin-token)"}


def _refused_paths(place: dict[str, Path]) -> dict[str, str]:
    return {"an artifact outside": str(place["outside"] / "tiny.safetensors"),
            "a file that does not exist": str(place["outside"] / "missing.safetensors"),
            "a directory that does not exist": "/no/such/directory/x.safetensors",
            "a system file": "/etc/passwd", "a directory": "/etc",
            "a symbolic link out of the model directory": str(place["models"] / "escape.safetensors"),
            "dot-dot out of the model directory": str(place["models"] / ".." / "outside" / "tiny.safetensors"),
            "a relative path": "tiny.safetensors", "a NUL byte": str(place["models"]) + "/x\x00.safetensors"}


def test_a_path_outside_the_model_dirs_is_refused_with_one_message_whether_or_not_it_exists(guarded, place):
    auth = {"Authorization": f"Bearer {TOKEN}"}
    answers = {what: guarded.post("/admin/models/tiny/reload", {"path": path}, headers=auth)
               for what, path in _refused_paths(place).items()}
    assert answers == dict.fromkeys(answers, (403, {"error": REFUSED}))
    status, body = guarded.post("/admin/models/tiny/reload", {"path": str(place["models"] / "tiny.safetensors")},
                                headers=auth)
    assert status == 200, body


def test_without_a_token_admin_is_on_only_for_a_loopback_bind(place):
    """An empty ``FLEXZOO_ADMIN_TOKEN`` is no token (not a token that an empty guess would match)."""
    server = Server([str(place["models"] / "tiny.safetensors"), "--host", "127.0.0.1"],
                    {**server_env(place["tmp"]), "FLEXZOO_ADMIN_TOKEN": ""})
    try:
        status, body = server.post("/admin/models", {"path": str(place["models"] / "tiny.safetensors")})
        assert (status, body) == (403, {"error": REFUSED})  # routed, but no --model-dir: nothing is loadable
        assert server.post("/admin/models/tiny/rollback", {})[0] == 409
    finally:
        assert server.stop() == 0


def test_a_short_token_or_a_missing_model_dir_is_refused_at_start(place):
    env = server_env(place["tmp"])
    artifact = str(place["models"] / "tiny.safetensors")
    for args, message in ((["--admin-token", "short"], "the admin token is 5 characters; use at least 16"),
                          (["--model-dir", str(place["tmp"] / "nope")], "nope: not a directory")):
        result = subprocess.run([sys.executable, "-m", "flexzoo", "serve", artifact, "--port", "0", *args],
                                capture_output=True, text=True, env=env, timeout=120)
        assert result.returncode != 0
        assert message in result.stderr and "Traceback" not in result.stderr, result.stderr
