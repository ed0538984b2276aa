"""An ensemble of manifests trained on an image folder: built by `zoo build`, it names its classes and serves."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from serving_helpers import Server, multipart, server_env

from flexzoo.cli import main
from flexzoo.testing import read_artifact

pytestmark = pytest.mark.processes  # servers, ranks, signals: `make test-flaky` runs them 10 times

ROOT = Path(__file__).resolve().parents[1]

MEMBER = """
[model]
name = "{name}"
seed = {seed}
input_shape = [3, 16, 16]

[backbone]
use = "cnn"
channels = [8, 16]

[heads.label]
use = "linear"
num_classes = 3

[train]
data = "imagefolder:shapes"
epochs = 2
lr = 0.01
"""

ENSEMBLE = """
[model]
name = "shapes-ensemble"
version = "1.0.0"

[ensemble]
members = ["a.toml", "b.toml"]

[heads.label]
use = "{combine}"
num_classes = 3
"""


@pytest.mark.slow
@pytest.mark.parametrize("combine", ["mean", "vote"])
def test_an_ensemble_of_manifests_names_its_members_classes_and_serves_them(combine, tmp_path, capsys):
    subprocess.run([sys.executable, str(ROOT / "examples" / "make_shapes.py"), str(tmp_path / "shapes"),
                    "--train", "20", "--val", "6"], check=True, capture_output=True)
    for name, seed in (("a", 0), ("b", 1)):
        (tmp_path / f"{name}.toml").write_text(MEMBER.format(name=name, seed=seed))
    (tmp_path / "ensemble.toml").write_text(ENSEMBLE.format(combine=combine))
    assert main(["build", str(tmp_path / "ensemble.toml"), "-o", str(tmp_path / "out"), "--report", "none"]) == 0
    artifact = tmp_path / "out" / "shapes-ensemble.safetensors"
    labels = read_artifact(artifact).card["heads"]["label"]["labels"]
    assert labels == ["circle", "square", "triangle"]  # the members' class folders, agreed
    capsys.readouterr()

    image = next((tmp_path / "shapes" / "val" / "square").iterdir())
    server = Server([str(artifact)], server_env(tmp_path), timeout=120)
    try:
        body, content_type = multipart("file", image.name, image.read_bytes())
        status, answer = server.request("POST", "/v1/models/shapes-ensemble/predict", body, content_type)
        assert status == 200, answer
        (prediction,) = answer["predictions"]
        assert prediction["label"]["label"] in labels
        status, answer = server.post("/v1/models/shapes-ensemble/predict",
                                     {"inputs": [[[0.5] * 16] * 16] * 3, "top_k": 3})
        assert status == 200, answer
        assert {entry["label"] for entry in answer["predictions"][0]["label"]["top_k"]} == set(labels)
    finally:
        assert server.stop() == 0
