"""`zoo tune`: Optuna over manifest keys; the best trial beats the manifest's own values on digits."""

from __future__ import annotations

import contextlib
import json
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

import flexzoo
from flexzoo import FlexzooError
from flexzoo.cli import main
from flexzoo.testing import read_artifact
from flexzoo.tuning.search import parse_space

MANIFEST = """
[model]
name = "tuned"
input_shape = [1, 8, 8]

[backbone]
use = "mlp"
widths = [32]

[heads.digit]
use = "linear"
num_classes = 10

[train]
data = "digits"
epochs = 2
batch_size = 128
lr = 0.0001
"""


def test_a_malformed_space_says_which_forms_are_accepted():
    with pytest.raises(FlexzooError, match=r"expected KEY=DIST with DIST one of uniform"):
        parse_space(["train.lr=gauss(0,1)"])


def test_a_space_value_that_breaks_the_manifest_is_refused_before_the_first_trial(tmp_path, capsys):
    (tmp_path / "m.toml").write_text(MANIFEST)
    code = main(["tune", str(tmp_path / "m.toml"), "--space", "train.lr=uniform(-1,0.1)", "--trials", "2",
                 "-o", str(tmp_path)])
    assert code != 0 and "--space train.lr: the value -1 does not make a valid manifest" in capsys.readouterr().err
    assert not (tmp_path / "tuned.tune").exists()


@pytest.mark.processes
@pytest.mark.slow
def test_the_best_trial_beats_the_manifest_and_two_workers_share_one_sqlite_study(tmp_path):
    (tmp_path / "m.toml").write_text(MANIFEST)
    storage = f"sqlite:///{tmp_path / 'shared.db'}"
    command = [sys.executable, "-m", "flexzoo", "tune", str(tmp_path / "m.toml"), "--space",
               "train.lr=loguniform(1e-3,1e-1)", "--trials", "6", "-o", str(tmp_path), "--storage", storage,
               "--json"]
    workers = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for _ in range(2)]
    results = [json.loads(worker.communicate(timeout=300)[0]) for worker in workers]
    assert all(worker.returncode == 0 for worker in workers)

    import optuna

    study = optuna.load_study(study_name="tuned", storage=storage)
    finished = [t for t in study.trials if t.state.is_finished()]
    assert len(finished) >= 6
    default = study.trials[0]  # the manifest's own values, enqueued first
    assert default.params == {"train.lr": pytest.approx(1e-4)}
    best = max(results, key=lambda r: r["best_value"])
    assert best["best_value"] > default.value
    model = flexzoo.load(best["artifact"])
    assert model.manifest.train["lr"] == pytest.approx(best["best_params"]["train.lr"])


def test_cv_scores_each_trial_by_the_mean_of_its_folds_and_trains_the_best_manifest(tmp_path, capsys):
    (tmp_path / "m.toml").write_text(MANIFEST.replace("widths = [32]", "widths = [8]").replace("epochs = 2",
                                                                                             "epochs = 1"))
    code = main(["tune", str(tmp_path / "m.toml"), "--space", "train.lr=loguniform(1e-3,1e-1)", "--trials", "1",
                 "--cv", "2", "-o", str(tmp_path), "--json"])
    result = json.loads(capsys.readouterr().out)
    assert code == 0 and result["cv"] == 2
    first, second = result["fold_values"]
    assert result["best_value"] == pytest.approx((first + second) / 2)
    trial = tmp_path / "tuned.tune" / f"trial-{result['best_trial']}"
    folds = [read_artifact(trial / f"fold-{k}" / "tuned.safetensors") for k in range(2)]
    assert [(f.manifest["train"]["folds"], f.manifest["train"]["fold"]) for f in folds] == [(2, 0), (2, 1)]
    assert [f.info["training"]["final_validation"]["digit.accuracy"] for f in folds] == [first, second]
    assert sum(f.info["training"]["data"]["validation_samples"] for f in folds) == 1797  # the folds cover the data once
    best = flexzoo.load(result["artifact"])  # trained from best.toml: the manifest's own split, no folds
    assert "folds" not in best.manifest.train and best.manifest.train["validation_split"] == 0.2
    assert "folds" not in (tmp_path / "tuned.tune" / "best.toml").read_text()


def test_cv_refuses_a_manifest_that_chooses_its_own_fold(tmp_path, capsys):
    (tmp_path / "m.toml").write_text(MANIFEST + "folds = 3\n")
    code = main(["tune", str(tmp_path / "m.toml"), "--space", "train.lr=loguniform(1e-3,1e-1)", "--cv", "2",
                 "-o", str(tmp_path)])
    assert code != 0 and "sets [train] folds itself; remove folds and fold there" in capsys.readouterr().err


@pytest.mark.processes
@pytest.mark.slow  # two CLI processes (about 7 s of imports each) and three trials
def test_a_killed_study_resumes_and_finishes_the_requested_trials(tmp_path):
    (tmp_path / "m.toml").write_text(MANIFEST.replace("widths = [32]", "widths = [8]").replace("epochs = 2",
                                                                                             "epochs = 1"))
    command = [sys.executable, "-m", "flexzoo", "tune", str(tmp_path / "m.toml"), "--space",
               "train.lr=loguniform(1e-3,1e-1)", "--trials", "3", "-o", str(tmp_path), "--json"]
    database = tmp_path / "tuned.tune" / "study.db"
    first = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        done_before_kill = _wait_for_finished_trial(database, first)
    finally:
        first.kill()  # SIGKILL: no handler runs, the running trial stays behind in the storage
        first.wait()
    assert first.returncode == -signal.SIGKILL

    second = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert second.returncode == 0, second.stderr
    result = json.loads(second.stdout)

    import optuna

    study = optuna.load_study(study_name="tuned", storage=f"sqlite:///{database}")
    finished = {t.number: t.value for t in study.trials if t.state.is_finished()}
    assert len(finished) == 3
    assert done_before_kill.items() <= finished.items()  # the trials done before the kill were kept, not rerun
    assert [t.params for t in study.trials].count({"train.lr": pytest.approx(1e-4)}) == 1  # enqueued once
    assert result["best_value"] == max(finished.values())
    model = flexzoo.load(result["artifact"])
    assert model.manifest.train["lr"] == pytest.approx(result["best_params"]["train.lr"])
    assert (tmp_path / "tuned.tune" / "best.toml").read_text() == \
        (tmp_path / "tuned.tune" / f"trial-{result['best_trial']}" / "manifest.toml").read_text()


def _wait_for_finished_trial(database, process, timeout=60.0):
    """The {number: value} of the study's finished trials, as soon as there is one and while more are to come."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "the study ended before it could be killed mid-way"
        if database.exists():
            with contextlib.closing(sqlite3.connect(database, timeout=5)) as connection:
                try:
                    rows = connection.execute(
                        "SELECT t.number, v.value FROM trials t JOIN trial_values v ON v.trial_id = t.trial_id "
                        "WHERE t.state = 'COMPLETE'").fetchall()
                except sqlite3.OperationalError:  # the tables are not created yet
                    rows = []
            if rows:
                return dict(rows)
        time.sleep(0.1)
    raise AssertionError(f"no trial finished within {timeout} s")
