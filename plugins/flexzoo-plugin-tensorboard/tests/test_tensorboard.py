"""What the TensorBoard plugin writes, read back with tensorboard's own reader."""

from __future__ import annotations

import subprocess
import sys

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import flexzoo_plugin_tensorboard
from flexzoo.testing import check_tracker


def test_importing_the_plugin_loads_neither_torch_nor_tensorboard():
    code = "import sys, flexzoo_plugin_tensorboard; print(sorted({'torch', 'tensorboard'} & set(sys.modules)))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "[]\n"


def _scalars(folder):
    events = EventAccumulator(str(folder), size_guidance={"scalars": 0})
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


@pytest.fixture(scope="module")
def tracked(tmp_path_factory):
    return check_tracker("tensorboard", flexzoo_plugin_tensorboard, tmp_path_factory.mktemp("tb"), epochs=3)


def test_every_epoch_metric_is_a_scalar_read_back_by_tensorboard(tracked):
    scalars = _scalars(tracked.artifact.parent / "tracked.train" / "tensorboard")
    for name in ("train/loss", "lr", "validation/loss", "validation/digit.accuracy"):
        assert [step for step, _ in scalars[name]] == [1, 2, 3], name
    logged = [value for _, value in scalars["validation/digit.accuracy"]]
    expected = [record["validation"]["digit.accuracy"] for record in tracked.history]
    assert logged == pytest.approx(expected)


def test_the_final_metrics_are_logged_with_the_manifest_as_hyperparameters(tracked):
    events = EventAccumulator(str(tracked.artifact.parent / "tracked.train" / "tensorboard"))
    events.Reload()
    scalars = _scalars(tracked.artifact.parent / "tracked.train" / "tensorboard")
    assert scalars["hparam/digit.accuracy"][0][1] == pytest.approx(tracked.history[-1]["validation"]["digit.accuracy"])
    assert "manifest/text_summary" in events.Tags()["tensors"]
