"""alibi-detect's and evidently's drift verdicts on the windows ``drift_agreement.py`` wrote; run in ``.venv-drift``.

``python drift_agreement_runner.py WINDOWS.npz`` prints JSON: the libraries' versions, what each verdict is, and per
window each verdict (evidently's only where it is installed), the columns alibi-detect found drifted and its
p-value per column, and how many columns each evidently report found drifted. It imports nothing of flexzoo, and
neither torch nor tensorflow: only the detectors that run on numpy and scipy.

- ``alibi-detect``: ``KSDrift`` on the continuous columns (input statistics, feature sketch, confidence) and
  ``ChiSquareDrift`` on the predicted classes, each with ``correction="bonferroni"`` over its columns and
  ``p_val = alpha / 2`` (Bonferroni over the two detectors), so that the whole verdict holds the false-alarm rate
  at ``alpha`` as flexzoo's does; drift when either detector finds it. (Its KS is scipy's asymptotic one.)
  ``alibi-detect, p_val alpha``: the same detectors, each at ``p_val = alpha`` (a false-alarm rate up to 2 alpha).
- ``evidently, defaults``: ``DataDriftPreset()`` as it comes: each column tested at 0.05 by the method evidently
  chooses (KS for these numerical columns, chi-square goodness of fit for the classes), and dataset drift when at
  least half the columns drift.
- ``evidently, any column``: ``DataDriftPreset`` with KS and chi-square, each column at ``alpha / columns``
  (Bonferroni) and dataset drift when any column drifts (``drift_share`` of one column): flexzoo's rule, in
  evidently's tests.
"""

from __future__ import annotations

import json
import os
import sys
from importlib.metadata import version

import numpy as np

os.environ.setdefault("DO_NOT_TRACK", "1")  # evidently's usage telemetry


def _fired(names: list[str]) -> list[str]:
    """``names`` with the feature sketch's columns counted rather than listed."""
    sketch = sum(name.startswith("feature sketch ") for name in names)
    return [name for name in names if not name.startswith("feature sketch ")] + (
        [f"feature sketch ({sketch} columns)"] if sketch else [])


def alibi_detect_verdicts(data: dict[str, np.ndarray]) -> list[dict]:
    """Per window: alibi-detect's verdict (and at ``p_val = alpha`` per detector), the columns that fired and the
    p-value of each."""
    from alibi_detect.cd import ChiSquareDrift, KSDrift

    alpha = float(data["alpha"])
    names = [*data["continuous_names"].tolist(), *data["categorical_names"].tolist()]
    detectors = {level: (KSDrift(data["reference_continuous"], p_val=level, correction="bonferroni"),
                         ChiSquareDrift(data["reference_categorical"], p_val=level, correction="bonferroni"))
                 for level in (alpha / 2, alpha)}
    found = []
    for continuous, categorical in zip(data["windows_continuous"], data["windows_categorical"]):
        verdicts = {}
        for level, (ks, chi) in detectors.items():
            by_ks = ks.predict(continuous, drift_type="batch", return_p_val=True)["data"]
            by_chi = chi.predict(categorical, drift_type="batch", return_p_val=True)["data"]
            verdicts[level] = bool(by_ks["is_drift"] or by_chi["is_drift"])
            if level == alpha / 2:
                p_values = np.concatenate([by_ks["p_val"], by_chi["p_val"]])
                thresholds = np.repeat([by_ks["threshold"], by_chi["threshold"]],
                                       [len(by_ks["p_val"]), len(by_chi["p_val"])])
                window = {"alibi_fired": _fired([name for name, p, t in zip(names, p_values, thresholds) if p < t]),
                          "alibi_p": dict(zip(names, p_values.astype(float).tolist()))}
        found.append({"verdicts": {"alibi-detect": verdicts[alpha / 2], "alibi-detect, p_val alpha": verdicts[alpha]},
                      **window})
    return found


def _evidently_drift(report_preset, reference, current, definition) -> tuple[bool, int]:
    """evidently's dataset-drift verdict of one report: (drift, the number of columns that drifted)."""
    from evidently import Dataset, Report

    snapshot = Report([report_preset]).run(Dataset.from_pandas(current, data_definition=definition),
                                          Dataset.from_pandas(reference, data_definition=definition))
    for metric in snapshot.dict()["metrics"]:
        if metric["config"]["type"].endswith(":DriftedColumnsCount"):
            return metric["value"]["share"] >= report_preset.drift_share, int(metric["value"]["count"])
    raise RuntimeError("evidently's report has no DriftedColumnsCount")


def evidently_verdicts(data: dict[str, np.ndarray]) -> list[dict]:
    """Per window: evidently's dataset-drift verdict with its defaults, and with flexzoo's any-column rule."""
    import pandas as pd
    from evidently import DataDefinition
    from evidently.presets import DataDriftPreset

    continuous, categorical = data["continuous_names"].tolist(), data["categorical_names"].tolist()
    columns = len(continuous) + len(categorical)
    definition = DataDefinition(numerical_columns=continuous, categorical_columns=categorical)

    def frame(numbers: np.ndarray, classes: np.ndarray) -> pd.DataFrame:
        return pd.concat([pd.DataFrame(numbers, columns=continuous), pd.DataFrame(classes, columns=categorical)],
                         axis=1)

    reference = frame(data["reference_continuous"], data["reference_categorical"])
    any_column = DataDriftPreset(num_method="ks", cat_method="chisquare", threshold=float(data["alpha"]) / columns,
                                 drift_share=1 / columns)
    found = []
    for numbers, classes in zip(data["windows_continuous"], data["windows_categorical"]):
        current = frame(numbers, classes)
        defaults, default_count = _evidently_drift(DataDriftPreset(), reference, current, definition)
        strict, strict_count = _evidently_drift(any_column, reference, current, definition)
        found.append({"verdicts": {"evidently, defaults": defaults, "evidently, any column": strict},
                      "evidently_drifted_columns": {"evidently, defaults": default_count,
                                                    "evidently, any column": strict_count}})
    return found


def main(path: str) -> int:
    with np.load(path) as stored:
        data = {name: stored[name] for name in stored.files}
    columns = len(data["continuous_names"]) + len(data["categorical_names"])
    described = {"alibi-detect": "KSDrift (continuous columns) + ChiSquareDrift (classes), Bonferroni, each at "
                                 "p_val alpha/2",
                 "alibi-detect, p_val alpha": "the same, each detector at p_val alpha",
                 "evidently, defaults": "DataDriftPreset(): columns at 0.05, drift when at least half of them drift",
                 "evidently, any column": f"DataDriftPreset(ks, chisquare): columns at alpha/{columns}, drift when "
                                          "any drifts"}
    versions = {name: version(name) for name in ("alibi-detect", "numpy", "scipy", "pandas")}
    windows = alibi_detect_verdicts(data)
    try:
        import evidently  # noqa: F401
    except ImportError:
        described = {name: text for name, text in described.items() if not name.startswith("evidently")}
    else:
        versions["evidently"] = version("evidently")
        for window, theirs in zip(windows, evidently_verdicts(data)):
            window["verdicts"].update(theirs.pop("verdicts"))
            window.update(theirs)
    json.dump({"versions": versions, "libraries": described, "windows": windows}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
