"""Reading an artifact's weights once, verified: plugins checked, the file memory-mapped, its digest compared.

The tensors are views into one private (copy-on-write) memory map of the file: nothing is copied,
and the pages the hash reads are the pages the model then uses, so the weights are read once and
verified as they are read, on every core where the artifact records a tree root
(:mod:`flexzoo.artifact.digest`), on one for older artifacts. A model loaded on the meta device and given
these tensors (``load_state_dict(assign=True)``) costs about the weights' bytes in memory, and no more.

An artifact of LoRA adapters (``[train.lora] store = "adapters"``) is read with its base: the base
artifact it names (by a path relative to itself and the sha256 of its weights) is read the same
way, the adapters are folded into the base's weights (:mod:`flexzoo.compression.low_rank`), and the stored
tensors complete the state, so every reader (``flexzoo.load``, ``from =``, ensembles) sees the
merged model's full state.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from flexzoo.artifact.aligned import ALIGNMENT
from flexzoo.artifact.digest import recorded_tree, tree_root
from flexzoo.artifact.format import ArtifactInfo, check_plugins, read_artifact, verify_weights_digest
from flexzoo.artifact.write import SAFETENSORS_DTYPES
from flexzoo.compression.low_rank import ADAPTER_SUFFIXES, merged_weights
from flexzoo.errors import ArtifactError, FlexzooError
from flexzoo.plugin.safetensors_header import tensor_digest_prefix

if TYPE_CHECKING:
    from flexzoo.host.registry import Registry

__all__ = ["read_weights"]

TORCH_DTYPES = {code: dtype for dtype, code in SAFETENSORS_DTYPES.items()}


def read_weights(path: str | Path, registry: Registry, device: str | torch.device | None = None, *,
                 _bases: tuple[Path, ...] = ()) -> tuple[ArtifactInfo, dict[str, torch.Tensor]]:
    """The artifact's metadata and its tensors, read once and checked against the recorded hashes.

    :param device: where the tensors go; by default (and for "cpu") they stay views of the mapped file.
        They are moved once verified, from the mapped pages: a GPU load holds no second copy on the host.

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
    tree = recorded_tree(artifact.path, header.metadata)
    digest = hashlib.sha256()
    tensors: dict[str, torch.Tensor] = {}
    spans: list[tuple[str, str, list[int], memoryview]] = []
    for name in sorted(header.tensors):  # the sequential hash's order (see ``hash_file_tensors``)
        entry = header.tensors[name]
        dtype = TORCH_DTYPES.get(entry.get("dtype"))
        if dtype is None:
            raise ArtifactError(f"{artifact.path}: tensor {name!r} has dtype {entry.get('dtype')!r}, which a flexzoo "
                                "artifact does not hold; rebuild it with `zoo build`")
        start, end = (header.data_start + offset for offset in entry["data_offsets"])
        if tree is None:
            digest.update(tensor_digest_prefix(name, entry["dtype"], entry["shape"]))
            digest.update(mapped[start:end].numpy().data)
        else:
            spans.append((name, entry["dtype"], entry["shape"], mapped[start:end].numpy().data))
        tensors[name] = _tensor(artifact.path, name, storage, start, end, dtype, entry["shape"])
    if tree is None:
        verify_weights_digest(artifact.path, digest.hexdigest(), artifact.weights_sha256)
    else:  # every core hashes its share of the chunks, from the pages the model will use
        verify_weights_digest(artifact.path, tree_root(spans, artifact.weights_sha256, tree[1]), tree[0])
    if target is not None and target.type != "cpu":
        tensors = {name: tensor.to(target) for name, tensor in tensors.items()}
    if artifact.adapters is not None:
        tensors = _with_base(artifact, tensors, registry, device, _bases)
    return artifact, tensors


def _with_base(artifact: ArtifactInfo, tensors: dict[str, torch.Tensor], registry: Registry,
               device: torch.device | None, seen: tuple[Path, ...]) -> dict[str, torch.Tensor]:
    """An adapter artifact's full state: the base's backbone, the adapters folded in, then its own tensors.

    Refuses, naming the file and the hash it needs, a base that is missing, unreadable, not the one
    the adapters were trained on, or (through a chain of adapter artifacts) the artifact itself.
    """
    record = artifact.adapters
    assert record is not None
    base = record["base"]
    path = artifact.path.parent / base["path"]
    needed = f"the base artifact `{base['path']}` (weights sha256 {base['weights_sha256'][:12]}…)"
    if not path.is_file():
        raise ArtifactError(f"{artifact.path}: holds LoRA adapters for {needed}, which is not at {path}; put the "
                            "base there (the path is relative to this artifact)")
    chain = (*seen, artifact.path.resolve())
    if path.resolve() in chain:
        raise ArtifactError(f"{artifact.path}: holds LoRA adapters whose base leads back to {path}; rebuild it on a "
                            "base that stands alone")
    try:
        base_info, base_tensors = read_weights(path, registry, device, _bases=chain)
    except FlexzooError as exc:
        raise ArtifactError(f"{artifact.path}: cannot read {needed}: {exc}") from None
    if base_info.weights_sha256 != base["weights_sha256"]:
        raise ArtifactError(f"{artifact.path}: holds LoRA adapters for {needed}, but {path} has weights sha256 "
                            f"{base_info.weights_sha256[:12]}…: the adapters were trained on other weights; "
                            "restore that base artifact")
    adapters = {name: tensor for name, tensor in tensors.items() if name.endswith(ADAPTER_SUFFIXES)}
    own = {name: tensor for name, tensor in tensors.items() if name not in adapters}
    try:
        merged = merged_weights(base_tensors, adapters, record["alpha"] / record["rank"])
    except (KeyError, ValueError) as exc:
        raise ArtifactError(f"{artifact.path}: the adapters do not fit {needed}: {exc}") from None
    backbone = {name: tensor for name, tensor in base_tensors.items() if name.startswith("backbone.")}
    return {**backbone, **merged, **own}


def _tensor(path: Path, name: str, storage: torch.UntypedStorage, start: int, end: int, dtype: torch.dtype,
            shape: list[int]) -> torch.Tensor:
    """One tensor over bytes ``start:end`` of the mapping (a copy only if misaligned).

    Each tensor is set on the storage rather than sliced from one tensor: slices would share one
    autograd version counter, and an in-place update of one buffer (batch-norm statistics) would
    then look like a change to every weight saved for the backward pass.
    """
    itemsize = torch.empty((), dtype=dtype).element_size()
    if end - start != itemsize * math.prod(shape):
        raise ArtifactError(f"{path}: corrupt safetensors file (tensor {name!r} has {end - start} bytes for shape "
                            f"{shape})")
    if start % ALIGNMENT:  # off a 64-byte boundary (another writer's layout): copied, so kernels answer exactly
        return torch.empty(0, dtype=torch.uint8).set_(storage)[start:end].clone().view(dtype).reshape(shape)
    return torch.empty(0, dtype=dtype).set_(storage, start // itemsize, shape)
