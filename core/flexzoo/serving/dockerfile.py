"""A Dockerfile that serves an artifact with exactly the flexzoo and plugin versions it records (torch-free)."""

from __future__ import annotations

import re
from pathlib import Path

from flexzoo.artifact.format import read_artifact
from flexzoo.hub.artifacts import artifact_file
from flexzoo.hub.references import PREFIX, HubReference, is_hub_reference

__all__ = ["dockerfile"]


def _requirement(distribution: str, version: str) -> str:
    return f'"{distribution}=={version}"'


def dockerfile(artifact: str | Path, port: int = 8000) -> str:
    """The Dockerfile text: python and torch (CPU) as recorded, flexzoo[serve] and each plugin pinned.

    An ``hf-hub:ORG/NAME`` artifact is pulled (and verified) into the image's Hugging Face cache when the
    image is built, pinned to the commit pulled here, and served from it offline.
    """
    hub = isinstance(artifact, str) and is_hub_reference(artifact)
    path = artifact_file(artifact)
    info = read_artifact(path, verify_weights=False)
    if hub and re.fullmatch(r"[0-9a-f]{40}", path.parent.name):  # the snapshot folder is named by its commit
        artifact = f"{PREFIX}{HubReference.parse(str(artifact)).repo_id}@{path.parent.name}"
    versions = info.info["versions"]
    python = ".".join(versions["python"].split(".")[:2])
    torch = versions["torch"].split("+")[0]
    pins = {"flexzoo[serve,hub]" if hub else "flexzoo[serve]": versions["flexzoo"]}
    for name, plugin in sorted(info.plugins.items()):
        distribution = plugin.get("distribution") or f"flexzoo-plugin-{name}"
        if distribution != "flexzoo":
            pins[distribution] = plugin["version"]
    name = str(artifact) if hub else Path(artifact).name
    requirements = " \\\n    ".join(_requirement(dist, version) for dist, version in pins.items())
    served = name if hub else f"/models/{name}"
    tag = info.manifest["model"]["name"] if hub else name.removesuffix(".safetensors")
    fetch = (f"ENV HF_HOME=/models/huggingface\nRUN zoo inspect {artifact}\nENV HF_HUB_OFFLINE=1" if hub
             else f"COPY {name} /models/{name}")
    return f"""\
# Serves {name}: `docker build -t {tag} . && docker run -p {port}:{port} {tag}`
# /admin (load, reload, rollback) is off as written: the server listens on 0.0.0.0 without a token.
# To turn it on, pass a token of 16+ characters at run time, never in the image:
#   docker run -e FLEXZOO_ADMIN_TOKEN="$(python -c 'import secrets; print(secrets.token_urlsafe(32))')" ...
# Loads are then confined to /models (--model-dir); mount new artifacts there.
FROM python:{python}-slim
RUN pip install --no-cache-dir "torch=={torch}" --index-url https://download.pytorch.org/whl/cpu
RUN pip install --no-cache-dir \\
    {requirements}
{fetch}
EXPOSE {port}
HEALTHCHECK CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:{port}/ready')"
CMD ["zoo", "serve", "{served}", "--host", "0.0.0.0", "--port", "{port}", "--model-dir", "/models"]
"""
