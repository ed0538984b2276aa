"""The artifact's metadata layout, and reading and verifying it without importing torch."""

from __future__ import annotations

import hashlib
import json
import mmap
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flexzoo.artifact.digest import recorded_tree, tree_root
from flexzoo.errors import ArtifactError, PluginError
from flexzoo.plugin.safetensors_header import Header, hash_file_tensors, read_header

FORMAT = "flexzoo.artifact/1"
SUFFIX = ".safetensors"
REQUIRED_PARTS = ("manifest", "plugins", "versions", "card")


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no spaces: the text that metadata hashes cover."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def metadata_digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def artifact_path(out_dir: str | Path, name: str) -> Path:
    return Path(out_dir) / f"{name}{SUFFIX}"


@dataclass(frozen=True)
class ArtifactInfo:
    """An artifact's verified metadata (the weights themselves are not loaded)."""

    path: Path
    header: Header
    info: dict[str, Any]
    weights_sha256: str

    @property
    def manifest(self) -> dict[str, Any]:
        return self.info["manifest"]

    @property
    def plugins(self) -> dict[str, dict[str, str]]:
        return self.info["plugins"]

    @property
    def card(self) -> dict[str, Any]:
        return self.info["card"]

    @property
    def compression_steps(self) -> list[dict[str, Any]]:
        """Each [[compress]] step's use, record and packing (empty for an uncompressed model)."""
        return self.info.get("compression", {}).get("steps", [])

    @property
    def adapters(self) -> dict[str, Any] | None:
        """An adapter artifact's record (``[train.lora] store = "adapters"``): base path and sha256, rank, layers."""
        return self.info.get("adapters")

    @property
    def profile(self) -> dict[str, Any] | None:
        """The reference profile of the held-out data (:mod:`flexzoo.monitoring.profile`), if one was recorded."""
        return self.info.get("profile")

    def _repr_html_(self) -> str:
        """The model card (as ``zoo inspect`` prints it) in Jupyter."""
        import html

        from flexzoo.artifact.card import render_card

        return f"<pre>{html.escape(render_card(self.info, self.weights_sha256))}</pre>"

    def as_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "format": FORMAT, "weights_sha256": self.weights_sha256, **self.info}


def verify_weights_digest(path: Path, actual: str, recorded: str) -> None:
    """Refuse weights whose sha256 is not the one the artifact recorded."""
    if actual != recorded:
        raise ArtifactError(
            f"{path}: weights hash mismatch (sha256 {actual[:12]}…, recorded {recorded[:12]}…): "
            "the weights were modified or corrupted after the artifact was written; rebuild it or restore "
            "the original file"
        )


def verify_weights_of(path: Path, header: Header) -> None:
    """Refuse a file whose weights do not match their recorded digest: the tree root on every core where
    one was recorded (:mod:`flexzoo.artifact.digest`), else the sequential sha256 of older artifacts."""
    tree = recorded_tree(path, header.metadata)
    if tree is None:
        verify_weights_digest(path, hash_file_tensors(path, header), header.metadata["weights_sha256"])
        return
    root, chunk = tree
    with open(path, "rb") as file, mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
        view = memoryview(mapped)
        slices = [(name, entry["dtype"], entry["shape"],
                   view[header.data_start + entry["data_offsets"][0]:header.data_start + entry["data_offsets"][1]])
                  for name, entry in header.tensors.items()]
        try:
            actual = tree_root(slices, header.metadata["weights_sha256"], chunk)
        finally:  # the map closes only once no view of it is left
            for *_, data in slices:
                data.release()
            view.release()
    verify_weights_digest(path, actual, root)


def read_artifact(path: str | Path, *, verify_weights: bool = True) -> ArtifactInfo:
    """Read and check an artifact's metadata (and by default its weights' hash)."""
    path = Path(path)
    header = read_header(path)
    meta = header.metadata
    if meta.get("format") != FORMAT:
        found = f"format {meta['format']!r}" if "format" in meta else "no flexzoo metadata"
        raise ArtifactError(f"{path}: not a flexzoo artifact ({found}); it is a plain safetensors file")
    missing = [key for key in ("flexzoo", "weights_sha256", "metadata_sha256") if key not in meta]
    if missing:
        raise ArtifactError(f"{path}: the artifact is missing {', '.join(missing)}; rebuild it with `zoo build`")
    if metadata_digest(meta["flexzoo"]) != meta["metadata_sha256"]:
        raise ArtifactError(f"{path}: metadata hash mismatch: the artifact's metadata was modified after it "
                            "was written; rebuild it or restore the original file")
    info = json.loads(meta["flexzoo"])
    missing = [key for key in REQUIRED_PARTS if key not in info]
    if missing:
        raise ArtifactError(f"{path}: the artifact is missing its {', '.join(missing)}")
    if verify_weights:
        verify_weights_of(path, header)
    return ArtifactInfo(path=path, header=header, info=info, weights_sha256=meta["weights_sha256"])


def _release(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version)[:3])


def compatible(recorded: str, installed: str) -> bool:
    """Semantic-versioning compatibility: same major (same minor while the major is 0)."""
    old, new = _release(recorded), _release(installed)
    if not old or not new:
        return recorded == installed
    if old[0] == 0 or new[0] == 0:
        return old[:2] == new[:2]
    return old[0] == new[0]


def check_plugins(artifact: ArtifactInfo, installed: dict[str, tuple[str, str | None, str | None]]) -> None:
    """Refuse an artifact whose plugins are missing or incompatible.

    :param installed: plugin name -> (status, distribution, version) of the plugins discovered here.
    """
    problems = []
    for name, recorded in sorted(artifact.plugins.items()):
        dist, version = recorded.get("distribution"), recorded.get("version")
        here = installed.get(name)
        if here is None or here[0] != "loaded":
            state = "not installed" if here is None else here[0]
            install = f"pip install '{dist}=={version}'" if dist and version else "install it"
            problems.append(f"plugin `{name}` ({dist} {version}) is {state}; {install}")
        elif version and here[2] and not compatible(version, here[2]):
            problems.append(f"plugin `{name}` is version {here[2]} here, but the artifact was built with "
                            f"{version}, which is not compatible; pip install '{dist}=={version}'")
    if problems:
        raise PluginError(f"{artifact.path}: cannot rebuild the model:\n  " + "\n  ".join(problems))
