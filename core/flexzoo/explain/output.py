"""What ``zoo explain -o DIR`` writes, each file atomically.

Per sample (named ``NNN-<input>`` in input order): the raw attributions (``.npy``, float32, the
explainer's shape); for images a PNG heat map over the input (``.png``, the input in grey or colour,
the attribution magnitude summed over channels in the ``inferno`` colours, blended); for sequences and
tables a table (``.csv``: each step's or feature's attribution) and a bar chart (``.png``). Beside them,
``explanations.json``: the artifact, the method, its baseline and settings, the layer, the completeness
gap, the sanity result, and per sample its target, score and files.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from flexzoo.atomic import write_atomically
from flexzoo.explain.attribution import Explanation

__all__ = ["SUMMARY", "heat_map", "write_explanations"]

SUMMARY = "explanations.json"
#: Overlays are drawn at least this many pixels on their longer side (8x8 digits would be unreadable).
MIN_SIDE = 192


def _stem(index: int, name: str) -> str:
    tail = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(name.replace(":", "_")).name).strip("._") or "input"
    return f"{index:03d}-{tail[:60]}"


def heat_map(attributions: np.ndarray) -> np.ndarray:
    """``(H, W)`` in [0, 1]: the magnitude summed over channels, scaled by its maximum."""
    magnitude = np.abs(attributions).sum(0)
    top = magnitude.max()
    return magnitude / top if top > 0 else magnitude


def _overlay_png(sample: np.ndarray, attributions: np.ndarray) -> bytes:
    import matplotlib
    from PIL import Image

    heat = heat_map(attributions)
    image = sample if sample.shape[0] == 3 else np.repeat(sample[:1], 3, 0)
    low, high = float(image.min()), float(image.max())
    image = (image - low) / (high - low) if high > low else np.zeros_like(image)
    colours = matplotlib.colormaps["inferno"](heat)[..., :3]
    blended = 0.45 * image.transpose(1, 2, 0) + 0.55 * colours
    picture = Image.fromarray((blended.clip(0, 1) * 255).astype(np.uint8))
    scale = max(1, -(-MIN_SIDE // max(picture.size)))
    picture = picture.resize((picture.width * scale, picture.height * scale), Image.Resampling.NEAREST)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


def _per_position(attributions: np.ndarray) -> np.ndarray:
    """A sequence's attribution per step (summed over features), or a table's per feature."""
    return attributions.reshape(attributions.shape[0], -1).sum(1) if attributions.ndim == 2 else attributions


def _chart_png(values: np.ndarray, axis: str, title: str) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(max(4.0, 0.25 * len(values)), 2.8))
    axes.bar(range(len(values)), values, color=["#c0392b" if v >= 0 else "#2e86c1" for v in values])
    axes.set_xlabel(axis)
    axes.set_ylabel("attribution")
    axes.set_title(title)
    axes.axhline(0, color="black", linewidth=0.6)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", bbox_inches="tight", dpi=100, metadata={"Software": None})
    plt.close(figure)
    return buffer.getvalue()


def _csv_text(values: np.ndarray, axis: str) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([axis, "attribution"])
    writer.writerows([i, f"{v:.6g}"] for i, v in enumerate(values))
    return buffer.getvalue()


def _write(path: Path, data: bytes | str) -> None:
    if isinstance(data, str):
        data = data.encode("utf-8")
    write_atomically(path, lambda partial: partial.write_bytes(data))


def _write_npy(path: Path, array: np.ndarray) -> None:
    def write(partial: Path) -> None:
        with partial.open("wb") as handle:
            np.save(handle, array.astype(np.float32), allow_pickle=False)

    write_atomically(path, write)


def write_explanations(out_dir: str | Path, explanations: Sequence[Explanation], names: Sequence[str],
                       batch: np.ndarray, header: dict[str, Any]) -> dict[str, Any]:
    """Write every explanation's files and the summary; return the summary."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rank = batch.ndim - 1
    axis = "step" if rank == 2 else "feature"
    methods = []
    for explanation in explanations:
        samples = []
        for i, name in enumerate(names):
            stem = f"{_stem(i, name)}.{explanation.head}.{explanation.method}"
            values = explanation.attributions[i]
            files = {"attributions": f"{stem}.npy"}
            _write_npy(out / files["attributions"], values)
            if rank == 3:
                files["overlay"] = f"{stem}.png"
                _write(out / files["overlay"], _overlay_png(batch[i], values))
            else:
                per = _per_position(values)
                files["table"], files["chart"] = f"{stem}.csv", f"{stem}.chart.png"
                _write(out / files["table"], _csv_text(per, axis))
                _write(out / files["chart"], _chart_png(per, axis, f"{name}: {explanation.labels[i]}"))
            sample = {"input": name, "target": explanation.labels[i], "index": explanation.targets[i],
                      "score": explanation.scores[i], "files": files}
            if explanation.completeness_gap is not None:
                sample["completeness_gap"] = explanation.completeness_gap[i]
            samples.append(sample)
        methods.append({**explanation.summary(), "samples": samples})
    summary = {**header, "explanations": methods}
    _write(out / SUMMARY, json.dumps(summary, indent=2) + "\n")
    return summary
