"""A Dockerfile that serves an artifact with exactly the flexzoo and plugin versions it records (torch-free)."""

from __future__ import annotations

from pathlib import Path

from flexzoo.artifact.format import read_artifact

__all__ = ["dockerfile"]


def _requirement(distribution: str, version: str) -> str:
    return f'"{distribution}=={version}"'


def dockerfile(artifact: str | Path, port: int = 8000) -> str:
    """The Dockerfile text: python and torch (CPU) as recorded, flexzoo[serve] and each plugin pinned."""
    info = read_artifact(artifact, verify_weights=False)
    versions = info.info["versions"]
    python = ".".join(versions["python"].split(".")[:2])
    torch = versions["torch"].split("+")[0]
    pins = {"flexzoo[serve]": versions["flexzoo"]}
    for name, plugin in sorted(info.plugins.items()):
        distribution = plugin.get("distribution") or f"flexzoo-plugin-{name}"
        if distribution != "flexzoo":
            pins[distribution] = plugin["version"]
    name = Path(artifact).name
    requirements = " \\\n    ".join(_requirement(dist, version) for dist, version in pins.items())
    return f"""\
# Serves {name}: `docker build -t {name.removesuffix('.safetensors')} . && docker run -p {port}:{port} ...`
FROM python:{python}-slim
RUN pip install --no-cache-dir "torch=={torch}" --index-url https://download.pytorch.org/whl/cpu
RUN pip install --no-cache-dir \\
    {requirements}
COPY {name} /models/{name}
EXPOSE {port}
HEALTHCHECK CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:{port}/ready')"
CMD ["zoo", "serve", "/models/{name}", "--host", "0.0.0.0", "--port", "{port}"]
"""
