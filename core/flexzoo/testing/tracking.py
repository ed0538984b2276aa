"""Checks for tracker plugins: a tiny training run on digits, tracked by the plugin and not."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

from flexzoo.plugin.components import RegisteredComponent
from flexzoo.testing.inputs import example_arguments

__all__ = ["TRACKED_MANIFEST", "check_tracker", "check_tracker_component", "train_tracked"]

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
    if isinstance(value, Mapping):  # a tracker's settings: an inline table
        return "{" + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + "}"
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


def check_tracker(name: str, plugin: ModuleType | Any, tmp_path: str | Path, *, epochs: int = 2,
                  settings: Mapping[str, Any] | None = None, use: str | None = None) -> Any:
    """Train twice with the plugin loaded: named in ``[track] use`` it must leave the run finished; not named,
    it must write nothing at all. Returns the tracked run's TrainResult (``artifact``, ``history``) to read back.

    ``name`` is the plugin's name; ``use`` what ``[track] use`` names (default: the plugin, for a plugin that logs
    through the run hooks; a tracker component's name); ``settings`` more ``[track]`` keys, a tracker's own
    settings as a table of its name: ``{"jsonl_log": {"every": 2}}``.
    """
    tmp = Path(tmp_path)
    host_only = train_tracked({}, tmp / "host", track={}, epochs=epochs)
    untracked = train_tracked({name: plugin}, tmp / "untracked", track={}, epochs=epochs)
    extra = _files(tmp / "untracked") - _files(tmp / "host")
    assert not extra, f"plugin `{name}` wrote {sorted(extra)} for a run whose [track] use does not name it"
    assert len(untracked.history) == len(host_only.history) == epochs
    tracked = train_tracked({name: plugin}, tmp / "tracked", track={"use": [use or name], **(settings or {})},
                            epochs=epochs)
    assert tracked.artifact is not None and tracked.artifact.is_file()
    return tracked


TRACKER_METHODS = ("run_start", "epoch_end", "run_end")


def check_tracker_component(entry: RegisteredComponent, example: Mapping[str, Any] | None = None,
                            epochs: int = 2) -> None:
    """A tracker (``flexzoo_trackers``) through real runs: its factory makes a :class:`flexzoo.plugin.Tracker`, which
    hears the run of a manifest whose ``[track] use`` names it (settings from ``example``), every epoch and
    its end, and writes nothing for a run that does not name it."""
    import tempfile

    from flexzoo.plugin import Component, hookimpl

    where = f"tracker {entry.qualified_name}"
    settings = example_arguments(entry, example)
    made = entry.component.factory(**settings)
    offered = [method for method in TRACKER_METHODS if callable(getattr(made, method, None))]
    assert offered, (f"{where} returned {type(made).__name__}; a tracker factory must return a flexzoo.plugin.Tracker, "
                     "with run_start(run), epoch_end(run, epoch, metrics) or run_end(run, artifact, history, status)")
    heard: list[str] = []

    @functools.wraps(entry.component.factory)
    def recorded(**arguments: Any) -> Any:
        return _Recorded(entry.component.factory(**arguments), heard)

    plugin = SimpleNamespace(flexzoo_trackers=hookimpl(lambda: [Component(entry.name, recorded)]))
    with tempfile.TemporaryDirectory() as tmp:
        check_tracker(entry.plugin, plugin, tmp, epochs=epochs, use=entry.name,
                      settings={entry.name: dict(example or {})} if example else None)
    expected = [m for m in ("run_start", *["epoch_end"] * epochs, "run_end") if m in offered]
    assert heard == expected, f"{where} heard {heard} of a {epochs}-epoch run, expected {expected}"


class _Recorded:
    """A tracker whose calls are recorded, by method name."""

    def __init__(self, tracker: Any, heard: list[str]) -> None:
        self._tracker, self._heard = tracker, heard

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._tracker, name)
        if name not in TRACKER_METHODS:
            return method

        def call(**arguments: Any) -> Any:
            self._heard.append(name)
            return method(**arguments)

        return call
