"""Hugging Face and torch.hub caches laid out on disk, as the libraries write them, for tests without network.

``models--ORG--NAME/blobs/<sha256>`` holds each file, ``snapshots/<commit>/<file>`` links to it and
``refs/<revision>`` holds the commit: what ``hf_hub_download`` finds with ``HF_HUB_OFFLINE=1``.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any


def commit_id(text: str) -> str:
    """A 40-hex commit id made from ``text`` (distinct texts, distinct commits)."""
    return hashlib.sha1(text.encode()).hexdigest()


def repo_folder(cache: Path, repo_id: str) -> Path:
    return cache / ("models--" + repo_id.replace("/", "--"))


def lay_out_repo(cache: Path, repo_id: str, files: dict[str, bytes], *, commit: str | None = None,
                 revision: str = "main") -> str:
    """Put ``files`` in the cache as one commit of ``repo_id`` that ``revision`` points to; return the commit."""
    folder = repo_folder(cache, repo_id)
    commit = commit or commit_id(repo_id + "".join(sorted(hashlib.sha256(d).hexdigest() for d in files.values())))
    for name, data in files.items():
        blob = folder / "blobs" / hashlib.sha256(data).hexdigest()
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes(data)
        link = folder / "snapshots" / commit / name
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(os.path.relpath(blob, link.parent))
    refs = folder / "refs" / revision
    refs.parent.mkdir(parents=True, exist_ok=True)
    refs.write_text(commit)
    return commit


def safetensors_bytes(state: dict[str, Any]) -> bytes:
    """A state dict as the bytes of a .safetensors file (contiguous copies, shared storage split)."""
    from safetensors.torch import save

    return save({name: tensor.detach().clone().contiguous() for name, tensor in state.items()})


def timm_repo_files(model_name: str, seed: int = 0) -> tuple[dict[str, bytes], dict[str, Any]]:
    """A timm repository's files for ``model_name`` (with its 1000-class classifier), made from the real
    architecture under ``seed``: model.safetensors and a config.json that declares its preprocessing."""
    import timm
    import torch

    torch.manual_seed(seed)
    model = timm.create_model(model_name, pretrained=False)
    state = model.state_dict()
    config = {"architecture": model_name, "num_classes": 1000, "num_features": model.num_features,
              "pretrained_cfg": {"input_size": [3, 160, 160], "interpolation": "bilinear", "crop_pct": 0.9,
                                 "mean": [0.5, 0.4, 0.3], "std": [0.2, 0.25, 0.3], "num_classes": 1000},
              "label_names": [f"class {i}" for i in range(1000)]}
    return {"model.safetensors": safetensors_bytes(state), "config.json": json.dumps(config).encode()}, state
