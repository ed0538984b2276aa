"""Adding a record to a written artifact's card (``zoo evaluate --record``), atomically.

The weights are copied as they are (their sha256 does not change); the metadata document gets the
record and a new metadata hash. The file is replaced in one step: a reader sees the old artifact or
the new one, never half of either.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from flexzoo.artifact.format import canonical_json, metadata_digest, read_artifact
from flexzoo.atomic import write_atomically

__all__ = ["record_in_card"]


def record_in_card(path: str | Path, key: str, record: dict[str, Any]) -> Path:
    """Set ``card[key] = record`` in the artifact at ``path`` (verified first) and rewrite it atomically."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    path = Path(path)
    artifact = read_artifact(path)
    info = dict(artifact.info)
    info["card"] = {**info["card"], key: json.loads(json.dumps(record))}
    document = canonical_json(info)
    metadata = {**artifact.header.metadata, "flexzoo": document, "metadata_sha256": metadata_digest(document)}
    with safe_open(str(path), framework="pt") as stored:
        tensors = {name: stored.get_tensor(name) for name in stored.keys()}  # noqa: SIM118 (safe_open has no iter)
    return write_atomically(path, lambda partial: save_file(tensors, str(partial), metadata=metadata))
