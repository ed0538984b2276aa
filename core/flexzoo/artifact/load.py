"""Reading an artifact's weights once, verified: plugins checked, the file memory-mapped, its sha256 compared.

The tensors are views into one private (copy-on-write) memory map of the file: nothing is copied,
and the pages the hash reads are the pages the model then uses, so the weights are read once and
verified as they are read. A model loaded on the meta device and given these tensors
(``load_state_dict(assign=True)``) costs about the weights' bytes in memory, and no more.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import torch

from flexzoo.artifact.format import ArtifactInfo, check_plugins, read_artifact, verify_weights_digest
from flexzoo.artifact.safetensors_header import tensor_digest_prefix
from flexzoo.artifact.write import SAFETENSORS_DTYPES
from flexzoo.errors import ArtifactError
from flexzoo.registry import Registry

__all__ = ["read_weights"]

TORCH_DTYPES = {code: dtype for dtype, code in SAFETENSORS_DTYPES.items()}


def read_weights(path: str | Path, registry: Registry, device: str | torch.device | None = None
                 ) -> tuple[ArtifactInfo, dict[str, torch.Tensor]]:
    """The artifact's metadata and its tensors, read once and checked against the recorded hashes.

    :param device: where the tensors go; by default (and for "cpu") they stay views of the mapped file.
        Each tensor is moved as soon as it is hashed, so a GPU load never holds a second copy on the host.

    Refuses, with an ArtifactError or PluginError, a file that is not a flexzoo artifact, one whose
    weights or metadata do not match their hashes, and one whose plugins are missing or incompatible.
    """
    artifact = read_artifact(path, verify_weights=False)  # checked below, on the mapped tensors: one read
    check_plugins(artifact, {p.name: (p.status, p.distribution, p.version) for p in registry.plugins})
    target = torch.device(device) if device is not None else None
    header = artifact.header
    size = artifact.path.stat().st_size
    storage = torch.UntypedStorage.from_file(str(artifact.path), False, size)
    mapped = torch.empty(0, dtype=torch.uint8).set_(storage)
    digest = hashlib.sha256()
    tensors: dict[str, torch.Tensor] = {}
    for name in sorted(header.tensors):  # the hash's order (see ``hash_file_tensors``)
        entry = header.tensors[name]
        dtype = TORCH_DTYPES.get(entry.get("dtype"))
        if dtype is None:
            raise ArtifactError(f"{artifact.path}: tensor {name!r} has dtype {entry.get('dtype')!r}, which a flexzoo "
                                "artifact does not hold; rebuild it with `zoo build`")
        start, end = (header.data_start + offset for offset in entry["data_offsets"])
        digest.update(tensor_digest_prefix(name, entry["dtype"], entry["shape"]))
        digest.update(mapped[start:end].numpy().data)
        tensors[name] = _tensor(artifact.path, name, storage, start, end, dtype, entry["shape"], target)
    verify_weights_digest(artifact.path, digest.hexdigest(), artifact.weights_sha256)
    return artifact, tensors


def _tensor(path: Path, name: str, storage: torch.UntypedStorage, start: int, end: int, dtype: torch.dtype,
            shape: list[int], device: torch.device | None) -> torch.Tensor:
    """One tensor over bytes ``start:end`` of the mapping (a copy only if misaligned or moved to a device).

    Each tensor is set on the storage rather than sliced from one tensor: slices would share one
    autograd version counter, and an in-place update of one buffer (batch-norm statistics) would
    then look like a change to every weight saved for the backward pass.
    """
    itemsize = torch.empty((), dtype=dtype).element_size()
    if end - start != itemsize * math.prod(shape):
        raise ArtifactError(f"{path}: corrupt safetensors file (tensor {name!r} has {end - start} bytes for shape "
                            f"{shape})")
    if start % itemsize:  # another writer's layout: copy rather than refuse
        tensor = torch.empty(0, dtype=torch.uint8).set_(storage)[start:end].clone().view(dtype).reshape(shape)
    else:
        tensor = torch.empty(0, dtype=dtype).set_(storage, start // itemsize, shape)
    return tensor if device is None or device.type == "cpu" else tensor.to(device)
