"""Issue 24: the drift monitor's verdicts against alibi-detect's and evidently's on the same windows.

``make drift-agreement`` (or ``python bench/drift_agreement.py --python .venv-drift/bin/python``): neither library
installs beside flexzoo's pins (alibi-detect needs numpy<2, evidently fails at import with pandas 3), so they live
in a venv of their own, ``.venv-drift``, installed from ``requirements/drift-agreement.txt``. This script, in
flexzoo's venv, trains the digits model of ``tests/test_monitoring.py`` and scores the windows its TorchDrift test
compares (``agreement_windows``: ten of held-out digits, three each of Gaussian noise σ 0.3, a 30° rotation and
digits 0-4 only) with the monitor (:func:`flexzoo.monitoring.drift.drift_scores`); it writes the same windows'
summaries to an .npz, runs ``drift_agreement_runner.py`` on it with the side venv's Python, and prints one row per
window with each verdict and the counts of agreement.

What each library gets: the same per-sample summaries the monitor tests, as columns: the input statistics, the
feature sketch, each head's confidence (continuous) and predicted class (categorical). See the runner's docstring
for the detectors and their levels. Exits 1 when flexzoo and alibi-detect disagree on a window.
Not collected by ``bench/run.py``: it checks verdicts, it does not time anything.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
from test_monitoring import agreement_windows, train_digits  # noqa: E402  (the windows the TorchDrift test scores)

from flexzoo import Predictor  # noqa: E402
from flexzoo.monitoring.drift import DEFAULT_ALPHA, drift_scores  # noqa: E402
from flexzoo.monitoring.profile import Profile  # noqa: E402
from flexzoo.monitoring.summaries import Summaries  # noqa: E402

RUNNER = HERE / "drift_agreement_runner.py"


def _columns(profile: Profile, summaries: Summaries) -> tuple[np.ndarray, np.ndarray]:
    """(continuous, categorical) columns of ``summaries``: input statistics, feature sketch and each head's
    confidence; each head's predicted class."""
    heads = sorted(profile.classes)
    continuous = [summaries.inputs, summaries.sketch, *(summaries.heads[h][1][:, None] for h in heads)]
    categorical = [summaries.heads[h][0][:, None] for h in heads]
    return (np.concatenate(continuous, axis=1).astype(np.float64),
            np.concatenate(categorical, axis=1).astype(np.int64))


def _names(profile: Profile) -> tuple[list[str], list[str]]:
    heads = sorted(profile.classes)
    sketch = [f"feature sketch {i}" for i in range(profile.reference.sketch.shape[1])]
    return ([*profile.input_names, *sketch, *(f"{h} confidence" for h in heads)], [f"{h} class" for h in heads])


def score_windows(folder: Path) -> tuple[dict[str, np.ndarray], list[dict]]:
    """Train the digits model in ``folder``, score every agreement window with the monitor; return the arrays the
    runner reads and flexzoo's row per window."""
    predictor = Predictor.load(train_digits(folder))
    profile = Profile.from_dict(predictor.info.profile)
    continuous, categorical = [], []
    rows = []
    for kind, window, sample in agreement_windows(predictor):
        scores = drift_scores(profile, sample, DEFAULT_ALPHA, seed=window)
        rows.append({"kind": kind, "window": window, "flexzoo": scores.drift, "flexzoo_drifted": scores.drifted(),
                     "flexzoo_p": {test.name: test.p_value for test in scores.tests}})
        columns = _columns(profile, sample)
        continuous.append(columns[0])
        categorical.append(columns[1])
    reference = _columns(profile, profile.reference)
    continuous_names, categorical_names = _names(profile)
    arrays = {"alpha": np.float64(DEFAULT_ALPHA), "reference_continuous": reference[0],
              "reference_categorical": reference[1], "windows_continuous": np.stack(continuous),
              "windows_categorical": np.stack(categorical), "continuous_names": np.array(continuous_names),
              "categorical_names": np.array(categorical_names)}
    return arrays, rows


def _verdict(drift: bool) -> str:
    return "drift" if drift else "ok"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", default=str(HERE.parent / ".venv-drift" / "bin" / "python"),
                        help="the side venv's Python, with alibi-detect (and evidently) installed")
    parser.add_argument("--npz", type=Path, help="also keep the windows' summaries in this .npz")
    args = parser.parse_args(argv)
    if not Path(args.python).exists():
        print(f"drift-agreement: no Python at {args.python}; `make drift-agreement` creates .venv-drift from "
              "requirements/drift-agreement.txt", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        arrays, rows = score_windows(Path(tmp) / "digits")
        windows = Path(args.npz) if args.npz else Path(tmp) / "windows.npz"
        np.savez(windows, **arrays)
        done = subprocess.run([args.python, str(RUNNER), str(windows)], capture_output=True, text=True)
    if done.returncode != 0:
        print(done.stderr, file=sys.stderr)
        print(f"drift-agreement: the runner failed (exit {done.returncode})", file=sys.stderr)
        return 1
    theirs = json.loads(done.stdout)
    _print_table(arrays, rows, theirs)
    agreed = sum(row["flexzoo"] == their["verdicts"]["alibi-detect"] for row, their in zip(rows, theirs["windows"]))
    return 0 if agreed == len(rows) else 1


def _least_p_values(row: dict, their: dict) -> tuple[float, ...]:
    """flexzoo's and alibi-detect's least p-values on the same questions: the classes (the same chi-square test of
    homogeneity), the input statistics and confidences (KS: exact in flexzoo, asymptotic in alibi-detect) and the
    features (flexzoo's MMD on the sketch; alibi-detect's KS on each of its columns)."""
    ours, others = row["flexzoo_p"], their["alibi_p"]
    sketch = [name for name in others if name.startswith("feature sketch ")]
    ks = [name for name in others if name not in sketch and not name.endswith(" class")]
    return (min(p for name, p in ours.items() if name.endswith(": classes")),
            min(p for name, p in others.items() if name.endswith(" class")),
            min(p for name, p in ours.items() if name.startswith("inputs: ") or name.endswith(": confidence")),
            min(others[name] for name in ks), ours["features"], min(others[name] for name in sketch))


def _print_table(arrays: dict[str, np.ndarray], rows: list[dict], theirs: dict) -> None:
    """Each window's verdicts and least p-values (flexzoo's, then alibi-detect's); what fired; the counts."""
    print(f"versions: {', '.join(f'{name} {version}' for name, version in theirs['versions'].items())}")
    windows, samples, continuous = arrays["windows_continuous"].shape
    print(f"alpha {DEFAULT_ALPHA}; {windows} windows of {samples} samples; {continuous} continuous columns and "
          f"{arrays['windows_categorical'].shape[2]} categorical")
    libraries = list(theirs["libraries"])
    print(f"{'kind':9}{'window':>6}  {'flexzoo':9}" + "".join(f"{name:>{len(name) + 2}}" for name in libraries)
          + "   least p: classes (chi2)   inputs, confidence (KS)   features (MMD | KS)")
    for row, their in zip(rows, theirs["windows"]):
        cells = "".join(f"{_verdict(their['verdicts'][name]):>{len(name) + 2}}" for name in libraries)
        p = _least_p_values(row, their)
        print(f"{row['kind']:9}{row['window']:>6}  {_verdict(row['flexzoo']):9}{cells}   {p[0]:9.2e} {p[1]:9.2e}"
              f"       {p[2]:9.2e} {p[3]:9.2e}       {p[4]:9.2e} {p[5]:9.2e}")
    print("what fired (flexzoo's tests | alibi-detect's columns):")
    for row, their in zip(rows, theirs["windows"]):
        if row["flexzoo_drifted"] or their["alibi_fired"]:
            print(f"  {row['kind']} {row['window']}: {', '.join(row['flexzoo_drifted']) or '-'} | "
                  f"{', '.join(their['alibi_fired']) or '-'}")
    for name in libraries:
        if name.startswith("evidently"):
            counts = " ".join(str(their["evidently_drifted_columns"][name]) for their in theirs["windows"])
            print(f"{name}: columns drifted per window, of {continuous + arrays['windows_categorical'].shape[2]}: "
                  f"{counts}")
    for name, described in theirs["libraries"].items():
        agreed = sum(row["flexzoo"] == their["verdicts"][name] for row, their in zip(rows, theirs["windows"]))
        print(f"flexzoo agrees with {name}: {agreed} of {len(rows)} windows ({described})")


if __name__ == "__main__":
    sys.exit(main())
