"""Drift monitoring: the reference profile an artifact records, and the tests that compare served windows with it.

The model is trained on a seeded 1,200 of scikit-learn's 1,797 digits; the other 597 are held out, as the data a
deployed model would meet. Windows of held-out digits must raise almost no alarm; noisy, rotated and
class-shifted digits must each raise one within the first window.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Iterator
from concurrent.futures import Executor, Future
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

import flexzoo
from conftest import TINY_MANIFEST
from flexzoo import Predictor
from flexzoo.monitoring.drift import DEFAULT_ALPHA, drift_scores
from flexzoo.monitoring.log import RotatingLog, read_logs
from flexzoo.monitoring.monitor import MonitorSettings, VersionMonitor, observed
from flexzoo.monitoring.profile import PROFILE_SAMPLES, Profile
from flexzoo.monitoring.summaries import Summaries
from flexzoo.testing import read_artifact

DIGITS_MANIFEST = """
[model]
name = "digits"
version = "1.0.0"
seed = 0
input_shape = [1, 8, 8]

[backbone]
use = "cnn"
channels = [8, 16]

[heads.digit]
use = "linear"
num_classes = 10

[train]
data = "arrays:train.npz"
epochs = 4
"""
WINDOW = 200


def held_out_split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Digits scaled to [0, 1], shuffled with a fixed seed: (train x, train y, held-out x, held-out y)."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    order = np.random.default_rng(0).permutation(len(digits.target))
    x = (digits.images / 16.0).astype(np.float32)[:, None]
    return x[order[:1200]], digits.target[order[:1200]], x[order[1200:]], digits.target[order[1200:]]


def train_digits(folder: Path) -> Path:
    """The digits model trained on the 1,200 training digits (its profile from their validation split)."""
    x, y, _, _ = held_out_split()
    folder.mkdir(parents=True, exist_ok=True)
    np.savez(folder / "train.npz", x=x, digit=y)
    (folder / "digits.toml").write_text(textwrap.dedent(DIGITS_MANIFEST))
    artifact = flexzoo.train(folder / "digits.toml", folder / "out").artifact
    assert artifact is not None
    return artifact


def drifted(kind: str, x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``x`` as the named drift makes it: Gaussian noise (σ 0.3), a 30° rotation, or only digits 0-4."""
    if kind == "noise":
        return (x + rng.normal(0, 0.3, x.shape)).astype(np.float32)
    if kind == "rotation":
        return ndimage.rotate(x, 30, axes=(2, 3), reshape=False, order=1).astype(np.float32)
    if kind == "prior":
        return x[y < 5]
    return x


class _Now(Executor):
    """Runs the monitor's worker at once, on the caller's thread: windows are scored as they complete."""

    def submit(self, fn, /, *args, **kwargs):
        future: Future = Future()
        future.set_result(fn(*args, **kwargs))
        return future


@pytest.fixture(scope="module")
def artifact(tmp_path_factory) -> Path:
    return train_digits(tmp_path_factory.mktemp("monitoring"))


@pytest.fixture(scope="module")
def predictor(artifact) -> Predictor:
    return Predictor.load(artifact)


def test_training_records_a_bounded_profile_of_held_out_data(artifact):
    profile = read_artifact(artifact).profile
    assert profile is not None
    assert profile["samples"] == 240 <= PROFILE_SAMPLES  # the validation split: 20 % of the 1,200
    assert profile["inputs"]["names"] == ["channel 0 mean", "channel 0 std"]
    assert len(profile["inputs"]["summaries"]) == 240 and len(profile["features"]["sketch"][0]) == 16
    head = profile["heads"]["digit"]
    assert head["classes"] == 10 and abs(sum(head["proportions"]) - 1) < 1e-5
    assert sum(head["confidence_histogram"]["counts"]) == 240
    assert len(artifact.read_bytes()) < 200_000


def test_an_artifact_built_without_data_has_no_profile_and_loads(tmp_path):
    manifest = tmp_path / "tiny.toml"
    manifest.write_text(textwrap.dedent(TINY_MANIFEST))
    written = flexzoo.save(flexzoo.build(manifest), tmp_path / "out", export=False)
    assert read_artifact(written).profile is None
    assert Predictor.load(written)(np.zeros((1, 1, 8, 8), np.float32))["digit"].shape == (1, 10)


def test_the_profile_round_trips(artifact):
    stored = read_artifact(artifact).profile
    assert Profile.from_dict(stored).as_dict() == stored


def _summaries(predictor: Predictor, x: np.ndarray) -> Summaries:
    monitor = VersionMonitor(Profile.from_dict(predictor.info.profile), ["digit"], _Now())
    features = []
    hook = predictor.model.backbone.register_forward_hook(lambda m, a, output: features.append(output))
    try:
        outputs = predictor(x)
    finally:
        hook.remove()
    return monitor.summarize(x, outputs, features[0])


@pytest.mark.processes
def test_the_scoring_process_gives_the_same_scores_at_the_lowest_priority_and_replaces_a_dead_child(predictor):
    """The server scores windows in a child at nice 19 (so scoring never delays a request): the same tests and
    p-values as in-process, and a killed child is replaced on the next window."""
    import os
    import signal

    from flexzoo.monitoring.scoring import ScoringProcess, _ready

    _, _, x, y = held_out_split()
    profile = Profile.from_dict(predictor.info.profile)
    window = _summaries(predictor, drifted("noise", x[:WINDOW], y[:WINDOW], np.random.default_rng(0)))
    scorer = ScoringProcess()
    try:
        scorer.start()
        pid = scorer._executor().submit(_ready).result(60)
        assert pid != os.getpid()
        assert os.getpriority(os.PRIO_PROCESS, pid) == 19
        in_child = scorer(profile, window, DEFAULT_ALPHA, 3)
        assert in_child.as_dict() == drift_scores(profile, window, DEFAULT_ALPHA, 3).as_dict()
        assert in_child.drift
        os.kill(pid, signal.SIGKILL)
        with pytest.raises(Exception, match="terminated abruptly"):
            scorer(profile, window, DEFAULT_ALPHA, 3)
        again = scorer(profile, window, DEFAULT_ALPHA, 3)  # a new child
        assert again.as_dict() == in_child.as_dict()
        assert scorer._executor().submit(_ready).result(60) != pid
    finally:
        scorer.close()


def test_the_features_test_resolves_a_corrected_level_below_what_999_permutations_could(predictor):
    """At alpha 0.001 over the digits model's tests each p-value is held to 0.0002, below 1/1000, the smallest
    p-value 999 permutations can give: the permutations grow with the tests, so drifted features still fire."""
    _, _, x, y = held_out_split()
    profile = Profile.from_dict(predictor.info.profile)
    window = _summaries(predictor, drifted("noise", x[:WINDOW], y[:WINDOW], np.random.default_rng(0)))
    scores = drift_scores(profile, window, 0.001, seed=0)
    features = next(test for test in scores.tests if test.name == "features")
    assert scores.threshold < 1 / 1000
    assert features.p_value < scores.threshold
    assert "features" in scores.drifted()


def test_a_window_far_from_drift_is_settled_by_the_screening_permutations_and_a_drifted_one_by_the_full_test(
        predictor):
    """The usual window costs 99 permutations; only a window whose screen is inconclusive pays for thousands."""
    _, _, x, y = held_out_split()
    profile = Profile.from_dict(predictor.info.profile)
    held_out = drift_scores(profile, _summaries(predictor, x[:WINDOW]), DEFAULT_ALPHA, seed=0)
    noisy = drift_scores(profile, _summaries(predictor, drifted("noise", x[:WINDOW], y[:WINDOW],
                                                                 np.random.default_rng(0))), DEFAULT_ALPHA, seed=0)
    settled, = (test for test in held_out.tests if test.name == "features")
    full, = (test for test in noisy.tests if test.name == "features")
    assert settled.method == "MMD (permutation test, 99 permutations)" and settled.p_value >= 0.05
    assert full.method == f"MMD (permutation test, {math.ceil(10 / noisy.threshold) - 1} permutations)"
    assert full.p_value < noisy.threshold


def test_held_out_digits_raise_no_alarm_in_at_least_95_percent_of_40_windows(predictor):
    """The false-alarm rate at alpha = 0.01 over 40 windows of 200 held-out digits (drawn with replacement)."""
    _, _, x, _ = held_out_split()
    pool = _summaries(predictor, x)
    profile = Profile.from_dict(predictor.info.profile)
    rng = np.random.default_rng(1)
    alarms = 0
    for window in range(40):
        chosen = rng.choice(len(x), WINDOW)
        sample = Summaries(pool.inputs[chosen], pool.sketch[chosen],
                           {name: (c[chosen], p[chosen]) for name, (c, p) in pool.heads.items()})
        alarms += drift_scores(profile, sample, DEFAULT_ALPHA, seed=window).drift
    print(f"false alarms: {alarms} of 40 windows")
    assert alarms <= 2


def test_served_samples_are_logged_as_json_lines_and_read_back_in_time_order(predictor, tmp_path):
    _, _, x, _ = held_out_split()
    log = RotatingLog(tmp_path / "logs", "digits", "1.0.0", max_bytes=20_000)
    monitor = VersionMonitor(Profile.from_dict(predictor.info.profile), ["digit"], _Now(),
                             MonitorSettings(window=50, interval=0), log_to=log)
    run = observed(predictor, monitor, predictor.model.backbone)
    for start in range(0, 120, 10):
        run(x[start:start + 10])
    monitor.close()
    files = sorted((tmp_path / "logs").glob("*.jsonl"))
    assert len(files) > 1 and files[0].name == "digits-1.0.0.00001.jsonl"  # rotated past 20 kB
    records = read_logs(tmp_path / "logs")
    assert len(records) == 120
    assert np.allclose(records[13]["input"], x[13], atol=1e-6)
    assert records[13]["heads"]["digit"]["class"] == int(predictor(x[13:14])["digit"].argmax())
    assert len(records[13]["sketch"]) == 16


# -- through the real server ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(artifact, tmp_path_factory):
    from serving_helpers import Server, server_env

    logs = tmp_path_factory.mktemp("monitor-logs")
    names = [f"{name}={artifact}" for name in ("heldout", "noise", "rotation", "prior", "report")]
    server = Server([*names, "--monitor-interval", "0", "--monitor-log", str(logs)],
                    server_env(tmp_path_factory.mktemp("site")))
    server.logs = logs
    yield server
    server.stop()


def _send_one_by_one(server, name: str, samples: np.ndarray) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def send(sample: np.ndarray) -> int:
        return server.post(f"/v1/models/{name}/predict", {"inputs": sample.tolist()})[0]

    with ThreadPoolExecutor(4) as pool:
        assert set(pool.map(send, samples)) == {200}


def _scored(server, name: str, windows: int) -> dict:
    import time

    deadline = time.monotonic() + 60
    while True:
        state = server.get(f"/v1/models/{name}/monitor")[1]["versions"]["1.0.0"]
        if state["windows"] >= windows or time.monotonic() > deadline:
            return state
        time.sleep(0.1)


@pytest.mark.processes
@pytest.mark.parametrize("kind", ["noise", "rotation", "prior"])
def test_the_server_raises_each_drift_alarm_within_300_requests(server, kind):
    _, _, x, y = held_out_split()
    rng = np.random.default_rng(3)
    shifted = drifted(kind, x, y, rng)
    _send_one_by_one(server, kind, shifted[rng.choice(len(shifted), 300)])
    state = _scored(server, kind, 1)
    print(f"{kind} (server): alarm after {state['first_alarm_at_sample']} requests; {state['latest']['drifted']}")
    assert state["first_alarm_at_sample"] is not None and state["first_alarm_at_sample"] <= 300
    assert server.metric("flexzoo_drift", model=kind, version="1.0.0") == 1.0
    assert server.metric("flexzoo_drift_windows_total", model=kind, version="1.0.0", verdict="drift") >= 1


@pytest.mark.processes
def test_the_server_raises_no_alarm_on_held_out_digits_and_logs_them(server):
    _, _, x, _ = held_out_split()
    _send_one_by_one(server, "heldout", x[np.random.default_rng(4).choice(len(x), 200)])
    state = _scored(server, "heldout", 1)
    assert (state["windows"], state["alarms"], state["latest"]["drift"]) == (1, 0, False)
    assert server.metric("flexzoo_drift", model="heldout", version="1.0.0") == 0.0
    assert len(read_logs(server.logs, "heldout")) == 200


@pytest.mark.processes
def test_zoo_monitor_reports_the_drift_of_logged_samples_over_time(server, artifact, tmp_path):
    import json
    import subprocess
    import sys

    _, _, x, _ = held_out_split()
    rng = np.random.default_rng(5)
    _send_one_by_one(server, "report", x[rng.choice(len(x), 200)])
    _scored(server, "report", 1)
    _send_one_by_one(server, "report", drifted("noise", x, None, rng)[rng.choice(len(x), 200)])
    _scored(server, "report", 2)
    report = tmp_path / "drift.html"
    done = subprocess.run([sys.executable, "-m", "flexzoo", "monitor", str(artifact), str(server.logs), "--model",
                           "report", "-o", str(report), "--json"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"report": str(report), "windows": 2, "drifted": [2]}
    page = report.read_text()
    assert "<svg" in page and "1 of 2 windows drifted" in page and "inputs: channel 0 std" in page


def test_zoo_monitor_refuses_logs_that_are_not_there_with_one_message(artifact, tmp_path):
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "flexzoo", "monitor", str(artifact), str(tmp_path / "nothing")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "no such file or folder of monitoring logs" in done.stderr
    assert "Traceback" not in done.stderr


# -- agreement with an independent drift library -------------------------------------------------------------------


def _torchdrift_verdict(profile: Profile, window: Summaries, alpha: float) -> tuple[bool, float, float]:
    """TorchDrift's verdict on ``window``: its Kolmogorov-Smirnov detector (Bonferroni over the columns) on the input
    summaries and the confidence, its kernel MMD detector (300 permutations) on the feature sketch; drift when
    either p-value is below ``alpha / 2``. Returns the verdict and the two p-values."""
    import torch
    from torchdrift.detectors import KernelMMDDriftDetector, KSDriftDetector

    reference = profile.reference
    columns = [(reference.inputs, window.inputs), *((reference.heads[h][1][:, None], window.heads[h][1][:, None])
                                                   for h in window.heads)]
    ks = KSDriftDetector()
    ks.fit(torch.from_numpy(np.concatenate([c[0] for c in columns], axis=1).astype(np.float32)))
    ks_p = float(ks.compute_p_value(torch.from_numpy(np.concatenate([c[1] for c in columns], axis=1)
                                                     .astype(np.float32))))
    mmd = KernelMMDDriftDetector(n_perm=300)  # its permutations are a Python loop: the cost of this test
    mmd.fit(torch.from_numpy(reference.sketch))
    mmd_p = float(mmd.compute_p_value(torch.from_numpy(window.sketch)))
    return min(ks_p, mmd_p) < alpha / 2, ks_p, mmd_p


def test_drift_verdicts_agree_with_torchdrift_on_the_same_windows(predictor):
    """Ten windows of held-out digits and three each of noise, rotation and digits 0-4, scored by the monitor and by
    TorchDrift's detectors on the same summaries: the verdicts must agree on every window."""
    import torch

    torch.manual_seed(0)  # TorchDrift draws its permutations from torch's global generator
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # its permutation loop runs small tensor operations: 10x the CPU time on 2 threads
    try:
        rows = _verdicts_of_both(predictor)
    finally:
        torch.set_num_threads(threads)
    print("\nkind      window  flexzoo  torchdrift  flexzoo min p  torchdrift KS p  torchdrift MMD p")
    for kind, window, ours, theirs, p, ks_p, mmd_p in rows:
        print(f"{kind:9} {window:6}  {ours!s:7}  {theirs!s:10}  {p:13.2e}  {ks_p:15.2e}  {mmd_p:16.3f}")
    assert [row[2] for row in rows] == [row[3] for row in rows]
    assert [row[2] for row in rows] == [False] * 10 + [True] * 9


def agreement_windows(predictor: Predictor) -> Iterator[tuple[str, int, Summaries]]:
    """The windows the monitor's verdicts are compared on with another library's, as (kind, window, summaries): ten
    of 200 held-out digits, then three each of noise, rotation and digits 0-4, drawn with a fixed seed.
    ``bench/drift_agreement.py`` compares alibi-detect's and evidently's verdicts on the same windows."""
    _, _, x, y = held_out_split()
    rng = np.random.default_rng(6)
    for kind, windows in (("heldout", 10), ("noise", 3), ("rotation", 3), ("prior", 3)):
        shifted = drifted(kind, x, y, rng)
        pool = _summaries(predictor, shifted)
        for window in range(windows):
            chosen = rng.choice(len(shifted), WINDOW)
            yield kind, window, Summaries(pool.inputs[chosen], pool.sketch[chosen],
                                          {name: (c[chosen], p[chosen]) for name, (c, p) in pool.heads.items()})


def _verdicts_of_both(predictor: Predictor) -> list[tuple]:
    """(kind, window, flexzoo's verdict, TorchDrift's, flexzoo's least p-value, TorchDrift's KS and MMD p-values)."""
    profile = Profile.from_dict(predictor.info.profile)
    rows = []
    for kind, window, sample in agreement_windows(predictor):
        ours = drift_scores(profile, sample, DEFAULT_ALPHA, seed=window)
        theirs, ks_p, mmd_p = _torchdrift_verdict(profile, sample, DEFAULT_ALPHA)
        rows.append((kind, window, ours.drift, theirs, min(t.p_value for t in ours.tests), ks_p, mmd_p))
    return rows
