"""The host's own plugin passes the conformance kit it offers third parties."""

from __future__ import annotations

import atexit
import io
import shutil
import tempfile
from pathlib import Path
from typing import ClassVar

import datasets
import numpy as np
import webdataset
from PIL import Image

from flexzoo.testing import PluginConformance


def _sample_data(root: Path) -> dict[str, str]:
    """Small data in every form a builtin source reads: its location by source name."""
    rng = np.random.default_rng(0)
    images = [(Image.fromarray(rng.integers(0, 256, (8, 8), dtype=np.uint8), mode="L"), index % 2)
              for index in range(6)]
    np.savez(root / "arrays.npz", x=rng.random((6, 1, 8, 8), dtype=np.float32), label=np.arange(6) % 2)
    rows = ["path,label"]
    for index, (image, label) in enumerate(images):
        folder = root / "folder" / ("dark", "light")[label]
        folder.mkdir(parents=True, exist_ok=True)
        image.save(folder / f"{index}.png")
        rows.append(f"folder/{('dark', 'light')[label]}/{index}.png,{label}")
    (root / "table.csv").write_text("\n".join(rows) + "\n")
    features = datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(names=["dark", "light"])})
    datasets.Dataset.from_dict({"image": [i for i, _ in images], "label": [lab for _, lab in images]},
                               features=features).save_to_disk(str(root / "hf"))
    (root / "shards").mkdir()
    with webdataset.TarWriter(str(root / "shards" / "train-000.tar")) as sink:
        for index, (image, label) in enumerate(images):
            encoded = io.BytesIO()
            image.save(encoded, format="PNG")
            sink.write({"__key__": f"{index:06d}", "png": encoded.getvalue(), "cls": str(label)})
    return {"arrays": str(root / "arrays.npz"), "imagefolder": str(root / "folder"), "table": str(root / "table.csv"),
            "huggingface": str(root / "hf"), "webdataset": str(root / "shards")}


class TestBuiltin(PluginConformance):
    plugin = "flexzoo.builtin"
    input_shape = (1, 8, 8)
    input_shapes: ClassVar = {"lstm": (8, 8), "gru": (8, 8), "transformer": (8, 8)}
    examples: ClassVar = {"head": {"linear": {"num_classes": 3}, "mlp": {"num_classes": 3, "hidden": [4]},
                                   "mean": {"num_classes": 4}, "vote": {"num_classes": 4},
                                   "segmentation": {"num_classes": 3, "width": 4},
                                   "detection": {"num_classes": 3, "width": 4}},
                          "initializer": {"constant": {"value": 0.5}}}
    _root = Path(tempfile.mkdtemp(prefix="flexzoo-builtin-sources-"))
    atexit.register(shutil.rmtree, _root, ignore_errors=True)
    locations: ClassVar = _sample_data(_root)
