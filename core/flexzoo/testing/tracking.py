"""Checks for tracker plugins: a tiny training run on digits, tracked by the plugin and not."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

__all__ = ["TRACKED_MANIFEST", "check_tracker", "train_tracked"]

#: A small model trained for a few seconds on scikit-learn's digits; ``{epochs}`` and ``{track}`` are filled in.
TRACKED_MANIFEST = """
[model]
name = "tracked"
input_shape = [1, 8, 8]

[backbone]
use = "mlp"
widths = [32]

[heads.digit]
use = "linear"
num_classes = 10

[train]
data = "digits"
epochs = {epochs}
batch_size = 128
lr = 0.01

[track]
{track}
"""


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return repr(value)


def train_tracked(plugins: Mapping[str, ModuleType], out_dir: str | Path, *, track: Mapping[str, Any],
                  epochs: int = 2) -> Any:
    """Train :data:`TRACKED_MANIFEST` into ``out_dir`` with ``builtin`` and ``plugins`` loaded; the TrainResult."""
    import flexzoo.builtin
    from flexzoo.host.registry import Registry
    from flexzoo.manifest.validation import load_manifest
    from flexzoo.pipeline.stages import train

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    text = TRACKED_MANIFEST.format(epochs=epochs,
                                   track="\n".join(f"{k} = {_toml_value(v)}" for k, v in track.items()))
    (out / "tracked.toml").write_text(text)
    registry = Registry.from_modules({"builtin": flexzoo.builtin, **plugins})
    return train(load_manifest(out / "tracked.toml", registry), out, registry)


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def check_tracker(name: str, plugin: ModuleType, tmp_path: str | Path, *, epochs: int = 2,
                  settings: Mapping[str, Any] | None = None) -> Any:
    """Train twice with the plugin loaded: named in ``[track] use`` it must leave the run finished; not named,
    it must write nothing at all. Returns the tracked run's TrainResult (``artifact``, ``history``) to read back.
    """
    tmp = Path(tmp_path)
    host_only = train_tracked({}, tmp / "host", track={}, epochs=epochs)
    untracked = train_tracked({name: plugin}, tmp / "untracked", track={}, epochs=epochs)
    extra = _files(tmp / "untracked") - _files(tmp / "host")
    assert not extra, f"plugin `{name}` wrote {sorted(extra)} for a run whose [track] use does not name it"
    assert len(untracked.history) == len(host_only.history) == epochs
    tracked = train_tracked({name: plugin}, tmp / "tracked", track={"use": [name], **(settings or {})}, epochs=epochs)
    assert tracked.artifact is not None and tracked.artifact.is_file()
    return tracked
