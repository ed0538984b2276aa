"""Starting ``zoo serve`` as a real process on 127.0.0.1 and talking to it over HTTP (tests only)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

# A plugin whose backbone misbehaves on purpose: inputs >= 1000 raise, inputs <= -1000 take 2 s.
TRAP_PLUGIN = """
import time
import flexzoo
import torch


class Trap(torch.nn.Module):
    def __init__(self, width):
        super().__init__()
        self.linear = torch.nn.Linear(64, width)

    def forward(self, x):
        if x.device.type == "meta":  # the host's dry run
            return self.linear(x.flatten(1))
        if bool((x >= 1000).any()):
            raise RuntimeError("trap sprung")
        if bool((x <= -1000).any()):
            time.sleep(2.0)
            x = x.clamp(min=0)
        return self.linear(x.flatten(1))


def trap(input_shape: tuple, width: int = 4):
    '''A backbone that raises on inputs >= 1000 and is slow on inputs <= -1000.'''
    return Trap(width)


@flexzoo.hookimpl
def flexzoo_backbones():
    return [flexzoo.Component("trap", trap)]
"""

TRAP_MANIFEST = """
[model]
name = "trap"
version = "0.2.0"
seed = 0
input_shape = [1, 8, 8]

[backbone]
use = "trap"

[heads.digit]
use = "linear"
num_classes = 3
"""


class Server:
    """A ``python -m flexzoo serve ...`` process; its URL is read from the line it prints when listening."""

    def __init__(self, args: list[str], env: dict[str, str], timeout: float = 120) -> None:
        """``args`` after ``zoo serve --port 0``; a server bound to every address is reached on 127.0.0.1."""
        self.process = subprocess.Popen([sys.executable, "-m", "flexzoo", "serve", "--port", "0", *args],
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        deadline = time.monotonic() + timeout
        line = self.process.stdout.readline()
        if "http://" not in line:
            self.process.kill()
            raise AssertionError(f"the server did not start: {line}{self.process.stderr.read()}")
        self.url = line.rsplit(" ", 1)[-1].strip().replace("//0.0.0.0:", "//127.0.0.1:")
        self.log: list[str] = []  # the server's stderr, drained so that a chatty server never blocks on it
        self._drain = threading.Thread(target=lambda: self.log.extend(self.process.stderr), daemon=True)
        self._drain.start()
        while self.get("/ready")[0] != 200:
            assert time.monotonic() < deadline, "the server never became ready"
            time.sleep(0.1)

    def request(self, method: str, path: str, body: bytes | None = None, content_type: str | None = "application/json",
                timeout: float = 60, headers: dict[str, str] | None = None) -> tuple[int, Any]:
        sent = {"Content-Type": content_type} if body is not None and content_type else {}
        request = urllib.request.Request(self.url + path, data=body, method=method, headers={**sent, **(headers or {})})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, raw = error.code, error.read()
        text = raw.decode()
        try:
            return status, json.loads(text)
        except ValueError:
            return status, text

    def get(self, path: str) -> tuple[int, Any]:
        try:
            return self.request("GET", path, timeout=5)
        except (urllib.error.URLError, ConnectionError):
            return 0, None

    def post(self, path: str, payload: Any, headers: dict[str, str] | None = None) -> tuple[int, Any]:
        return self.request("POST", path, json.dumps(payload).encode(), headers=headers)

    def metric(self, name: str, **labels: str) -> float:
        """The value of one sample on /metrics (0 when absent)."""
        _, text = self.request("GET", "/metrics")
        for line in text.splitlines():
            if line.startswith(name + "{") or line.startswith(name + " "):
                found = dict(part.split("=", 1) for part in line[line.find("{") + 1:line.find("}")].split(",")
                             if "=" in part)
                if all(found.get(key) == f'"{value}"' for key, value in labels.items()):
                    return float(line.rsplit(" ", 1)[1])
        return 0.0

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(timeout)
        finally:
            self._drain.join(10)
            self.process.stdout.close()
            self.process.stderr.close()


def multipart(field: str, filename: str, data: bytes) -> tuple[bytes, str]:
    boundary = "flexzoo-test-boundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{filename}\"\r\n"
            f"Content-Type: application/octet-stream\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def server_env(site: Path) -> dict[str, str]:
    path = os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path}
