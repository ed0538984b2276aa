"""What the MLflow plugin logs, read back with the MLflow client."""

from __future__ import annotations

import subprocess
import sys

import pytest
from mlflow.tracking import MlflowClient

import flexzoo_plugin_mlflow
from flexzoo.testing import check_tracker, train_tracked


def test_importing_the_plugin_loads_no_mlflow():
    code = "import sys, flexzoo_plugin_mlflow; print(sorted({'torch', 'mlflow'} & set(sys.modules)))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "[]\n"


@pytest.fixture(scope="module")
def tracked(tmp_path_factory):
    return check_tracker("mlflow", flexzoo_plugin_mlflow, tmp_path_factory.mktemp("mlflow"), epochs=3)


@pytest.fixture(scope="module")
def logged(tracked):
    out = tracked.artifact.parent
    client = MlflowClient(tracking_uri=f"sqlite:///{out / 'mlruns' / 'mlflow.db'}")  # the default local store
    experiment = client.get_experiment_by_name("tracked")
    (run,) = client.search_runs([experiment.experiment_id])
    return client, run


def test_the_run_finishes_with_the_resolved_manifest_as_params(logged):
    _, run = logged
    assert run.info.status == "FINISHED"
    params = run.data.params
    assert params["train.lr"] == "0.01" and params["train.epochs"] == "3"
    assert params["backbone.use"] == "builtin:mlp" and params["heads.digit.num_classes"] == "10"
    assert params["train.optimizer"] == "adamw"  # a default the manifest left out


def test_every_epoch_metric_has_one_value_per_epoch(logged, tracked):
    client, run = logged
    history = client.get_metric_history(run.info.run_id, "validation/digit.accuracy")
    assert [m.step for m in history] == [1, 2, 3]
    assert [m.value for m in history] == pytest.approx([r["validation"]["digit.accuracy"] for r in tracked.history])
    assert {"train/loss", "lr", "seconds", "validation/loss"} <= set(run.data.metrics)


def test_the_artifact_is_logged_with_the_run(logged, tracked):
    client, run = logged
    assert [f.path for f in client.list_artifacts(run.info.run_id)] == [tracked.artifact.name]


def test_any_tracking_uri_by_configuration(tmp_path):
    uri = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    train_tracked({"mlflow": flexzoo_plugin_mlflow}, tmp_path / "out", epochs=1,
                  track={"use": ["mlflow"], "tracking_uri": uri, "experiment": "study-a", "log_artifact": False})
    client = MlflowClient(tracking_uri=uri)
    (run,) = client.search_runs([client.get_experiment_by_name("study-a").experiment_id])
    assert run.info.status == "FINISHED" and client.list_artifacts(run.info.run_id) == []
    assert not (tmp_path / "out" / "mlruns").exists()
