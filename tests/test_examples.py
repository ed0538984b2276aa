"""The examples do what their comments promise."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

import pytest

import flexzoo
from flexzoo.pipeline import train
from flexzoo.registry import default_registry
from flexzoo.validation import load_manifest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.mark.slow
def test_digits_example_reaches_95_percent_on_digit(tmp_path):
    result = flexzoo.train(EXAMPLES / "digits.toml", tmp_path)
    assert result.history[-1]["validation"]["digit.accuracy"] >= 0.95


@pytest.mark.slow
def test_timm_example_trains_on_generated_shapes(tmp_path):
    assert default_registry().plugin("timm").status == "loaded"  # plugins/flexzoo-plugin-timm (make venv)
    spec = importlib.util.spec_from_file_location("make_shapes", EXAMPLES / "make_shapes.py")
    make_shapes = importlib.util.module_from_spec(spec)
    sys.modules["make_shapes"] = make_shapes
    spec.loader.exec_module(make_shapes)
    make_shapes.make_shapes(tmp_path / "shapes", train=40, val=10)
    shutil.copy(EXAMPLES / "timm_shapes.toml", tmp_path)
    manifest = load_manifest(tmp_path / "timm_shapes.toml")
    result = train(manifest, tmp_path / "out", show_progress=False)
    assert result.history[-1]["validation"]["label.accuracy"] > 1 / 3  # better than chance after 6 epochs
