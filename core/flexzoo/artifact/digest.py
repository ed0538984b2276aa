"""The weights' tree digest: sha256 of fixed-size chunks on every core, and their root.

One core hashes about 1 GB/s, so a sequential sha256 of a large model is most of its load time.
Here each tensor's bytes are cut into chunks of ``CHUNK_BYTES``; the chunks are hashed in threads
(hashlib releases the GIL for large buffers, so they run on every core), and the root is the
sha256 of, per tensor in name order, its name, dtype and shape and its chunks' digests. The root
also covers the artifact's ``weights_sha256`` (the sequential digest that names the weights
everywhere: pins, locks, cards), so that value cannot be edited alone either.

The chunks are cut within each tensor, not across the file, so the root depends on the tensors
only (not on how a writer lays them out) and is computed the same from tensors in memory at write
time and from the mapped file at load. Nothing here imports torch.

At write time both digests are taken while the file is written (:class:`WeightDigests`): the
sequential one in a thread of its own, the chunks on the other threads, so on two cores or more the
hashing adds little to the time the bytes take to reach the file.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor

from flexzoo.errors import ArtifactError
from flexzoo.plugin.safetensors_header import tensor_digest_prefix

__all__ = ["CHUNK_BYTES", "TREE_KEYS", "WeightDigests", "recorded_tree", "sequential_sha256", "tree_root"]

CHUNK_BYTES = 8 * 2**20
#: The header metadata keys that hold the root and its chunk size (artifacts written before have neither).
TREE_KEYS = ("weights_tree_sha256", "weights_tree_chunk")
_TAG = b"flexzoo weights tree 1\0"
_SERIAL_BYTES = 32 * 2**20  # below this, threads cost more than they save


#: One tensor as the digest sees it: name, safetensors dtype code, shape, its raw bytes.
TensorBytes = tuple[str, str, list[int], memoryview]


def _sha256(data: memoryview) -> bytes:
    return hashlib.sha256(data).digest()


def workers() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def sequential_sha256(tensors: Iterable[TensorBytes]) -> str:
    """The ``weights_sha256`` of ``tensors``: per tensor in name order, its name, dtype and shape, then its bytes
    (what ``hash_file_tensors`` computes from a written file)."""
    digest = hashlib.sha256()
    for name, dtype, shape, data in sorted(tensors, key=lambda tensor: tensor[0]):
        digest.update(tensor_digest_prefix(name, dtype, shape))
        digest.update(data)
    return digest.hexdigest()


def tree_root(tensors: Iterable[TensorBytes], weights_sha256: str, chunk: int = CHUNK_BYTES) -> str:
    """The root over ``tensors`` (any order: they are sorted by name), binding ``weights_sha256``."""
    ordered = sorted(tensors, key=lambda tensor: tensor[0])
    views = [memoryview(data).cast("B") for *_, data in ordered]
    pieces = _pieces(views, chunk)
    flat = [piece for tensor_pieces in pieces for piece in tensor_pieces]
    try:
        if sum(len(view) for view in views) < _SERIAL_BYTES or workers() == 1:
            digests = [_sha256(piece) for piece in flat]
        else:
            with ThreadPoolExecutor(workers()) as pool:
                digests = list(pool.map(_sha256, flat))
    finally:  # a memory map cannot close while views of it are alive
        for view in (*flat, *views):
            view.release()
    return _root(ordered, pieces, digests, weights_sha256, chunk)


class WeightDigests:
    """Both digests of tensors about to be written, hashed in threads from the moment this is made.

    The caller writes the file meanwhile (a write releases the GIL, as hashlib does), then asks for
    :meth:`metadata`. The tensors' bytes must not change until it has answered.
    """

    def __init__(self, tensors: Iterable[TensorBytes], chunk: int = CHUNK_BYTES) -> None:
        self._ordered = sorted(tensors, key=lambda tensor: tensor[0])
        self._chunk = chunk
        self._views = [memoryview(data).cast("B") for *_, data in self._ordered]
        self._pieces = _pieces(self._views, chunk)
        # One thread for the sequential digest, the others share the chunks (in batches of about a chunk).
        pool = ThreadPoolExecutor(max(workers(), 2))
        self._sequential = pool.submit(sequential_sha256, self._ordered)
        self._batches: list[Future[list[bytes]]] = []
        batch: list[memoryview] = []
        size = 0
        for piece in (piece for tensor_pieces in self._pieces for piece in tensor_pieces):
            batch.append(piece)
            size += len(piece)
            if size >= chunk:
                self._batches.append(pool.submit(_sha256_each, batch))
                batch, size = [], 0
        if batch:
            self._batches.append(pool.submit(_sha256_each, batch))
        pool.shutdown(wait=False)  # the threads end once their work is done

    def metadata(self) -> dict[str, str]:
        """The header's weight digests: ``weights_sha256``, and the tree root with its chunk size."""
        try:
            sequential = self._sequential.result()
            digests = [digest for batch in self._batches for digest in batch.result()]
        finally:
            for view in (*(piece for tensor_pieces in self._pieces for piece in tensor_pieces), *self._views):
                view.release()
        root = _root(self._ordered, self._pieces, digests, sequential, self._chunk)
        return {"weights_sha256": sequential, TREE_KEYS[0]: root, TREE_KEYS[1]: str(self._chunk)}

    @staticmethod
    def placeholder(chunk: int = CHUNK_BYTES) -> dict[str, str]:
        """Values of the same keys and lengths as :meth:`metadata`'s, to lay out a header before they are known."""
        return {"weights_sha256": "0" * 64, TREE_KEYS[0]: "0" * 64, TREE_KEYS[1]: str(chunk)}


def _pieces(views: list[memoryview], chunk: int) -> list[list[memoryview]]:
    """Each tensor's bytes cut into chunks (none for an empty tensor)."""
    return [[view[start:start + chunk] for start in range(0, len(view), chunk)] for view in views]


def _sha256_each(pieces: list[memoryview]) -> list[bytes]:
    return [_sha256(piece) for piece in pieces]


def _root(ordered: list[TensorBytes], pieces: list[list[memoryview]], digests: list[bytes], weights_sha256: str,
          chunk: int) -> str:
    """The root: the tag, chunk size and ``weights_sha256``, then per tensor its prefix and its chunks' digests."""
    root = hashlib.sha256(_TAG + f"{chunk}\0{weights_sha256}\0".encode())
    at = 0
    for (name, dtype, shape, _), tensor_pieces in zip(ordered, pieces, strict=True):
        root.update(tensor_digest_prefix(name, dtype, shape))
        for digest in digests[at:at + len(tensor_pieces)]:
            root.update(digest)
        at += len(tensor_pieces)
    return root.hexdigest()


def recorded_tree(path: object, metadata: dict[str, str]) -> tuple[str, int] | None:
    """The recorded root and chunk size, or None for an artifact written before tree digests."""
    if TREE_KEYS[0] not in metadata:
        return None
    try:
        chunk = int(metadata[TREE_KEYS[1]])
    except (KeyError, ValueError):
        chunk = 0
    if not 2**16 <= chunk <= 2**30:
        raise ArtifactError(f"{path}: the artifact's {TREE_KEYS[1]} is missing or not a size between 64 KiB and "
                            "1 GiB; rebuild it with `zoo build`")
    return metadata[TREE_KEYS[0]], chunk
