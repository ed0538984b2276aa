"""``zoo monitor ARTIFACT LOGS``: the drift of logged served samples over time, as one self-contained HTML page.

The logged samples (``zoo serve --monitor-log DIR``) are cut, in time order, into windows of ``window``
samples; each is tested against the artifact's reference profile as the server does
(:func:`~flexzoo.monitoring.drift.drift_scores`). The page shows each test's ``-log10 p`` over the windows
beside its Bonferroni-corrected level, and a table of the windows with their verdicts.
"""

from __future__ import annotations

import html
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from flexzoo.artifact.format import read_artifact
from flexzoo.atomic import write_atomically
from flexzoo.errors import FlexzooError
from flexzoo.monitoring.drift import DEFAULT_ALPHA, Scores, drift_scores
from flexzoo.monitoring.log import read_logs
from flexzoo.monitoring.monitor import DEFAULT_WINDOW
from flexzoo.monitoring.profile import Profile
from flexzoo.monitoring.summaries import Summaries, input_summaries
from flexzoo.reporting import charts

__all__ = ["DriftWindow", "drift_over_time", "write_drift_report"]

STYLE = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222}
section{margin:2em 0}svg{max-width:900px;height:auto}.drift{color:#b00;font-weight:bold}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}"""


@dataclass(frozen=True)
class DriftWindow:
    """One window of logged samples and its scores."""

    first: float  # time of its first and last sample (seconds since the epoch)
    last: float
    versions: tuple[str, ...]
    scores: Scores


def _summaries(records: list[dict[str, Any]], profile: Profile) -> Summaries:
    inputs = np.asarray([record["input"] for record in records], dtype=np.float32)
    if list(inputs.shape[1:]) != list(profile.input_shape):
        raise FlexzooError(f"the logged inputs have shape {list(inputs.shape[1:])}, the artifact's profile "
                           f"{profile.input_shape}: the logs are of another model")
    sketched = all("sketch" in record for record in records) and profile.reference.sketch is not None
    heads = {}
    for head in profile.reference.heads:
        if all(head in record["heads"] for record in records):
            heads[head] = (np.asarray([r["heads"][head]["class"] for r in records], dtype=np.int64),
                           np.asarray([r["heads"][head]["confidence"] for r in records], dtype=np.float32))
    return Summaries(input_summaries(inputs),
                     np.asarray([record["sketch"] for record in records], dtype=np.float32) if sketched else None,
                     heads)


def drift_over_time(profile: Profile, records: list[dict[str, Any]], window: int = DEFAULT_WINDOW,
                    alpha: float = DEFAULT_ALPHA) -> list[DriftWindow]:
    """The complete windows of ``records`` (in time order), each scored against ``profile``."""
    windows = []
    for number, start in enumerate(range(0, len(records) - window + 1, window)):
        chunk = records[start:start + window]
        scores = drift_scores(profile, _summaries(chunk, profile), alpha, seed=number)
        windows.append(DriftWindow(chunk[0]["time"], chunk[-1]["time"],
                                   tuple(sorted({str(r.get("version", "")) for r in chunk})), scores))
    return windows


def _when(seconds: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(seconds))


def render_drift_report(artifact: str | Path, windows: list[DriftWindow], samples: int, window: int) -> str:
    """The HTML page (charts inline as SVG)."""
    info = read_artifact(artifact, verify_weights=False)
    name = info.manifest["model"]["name"]
    alarms = [w for w in windows if w.scores.drift]
    reference = (info.profile or {}).get("samples", 0)
    parts = [f"<h1>Drift of {html.escape(name)} over time</h1>",
             f"<p>{samples} logged samples in {len(windows)} windows of {window} "
             f"({samples - len(windows) * window} in the last, incomplete window, not scored); reference profile of "
             f"{reference} held-out samples from {html.escape(str(artifact))}.</p>"]
    if alarms:
        first = alarms[0]
        parts.append(f'<p class="drift">{len(alarms)} of {len(windows)} windows drifted; the first ended at '
                     f"{_when(first.last)} ({', '.join(html.escape(t) for t in first.scores.drifted())}).</p>")
    else:
        parts.append(f"<p>No window drifted (level {windows[0].scores.alpha if windows else DEFAULT_ALPHA}).</p>")
    if windows:
        names = [test.name for test in windows[0].scores.tests]
        series = {test: [-math.log10(max(next((t.p_value for t in w.scores.tests if t.name == test), 1.0), 1e-12))
                         for w in windows] for test in names}
        series["level (Bonferroni)"] = [-math.log10(w.scores.threshold) for w in windows]
        parts.append(f"<section><h2>-log10 p per test</h2>{charts.curves('drift tests', series, 'window')}</section>")
        header = "".join(f"<th>{html.escape(test)}</th>" for test in names)
        rows = []
        for number, w in enumerate(windows, 1):
            cells = "".join(f"<td{' class=drift' if t.p_value < w.scores.threshold else ''}>{t.score:.4g} "
                            f"(p {t.p_value:.2g})</td>" for t in w.scores.tests)
            verdict = '<td class="drift">drift</td>' if w.scores.drift else "<td>ok</td>"
            rows.append(f"<tr><td>{number}</td><td>{_when(w.first)}</td><td>{_when(w.last)}</td>"
                        f"<td>{html.escape(', '.join(w.versions))}</td>{verdict}{cells}</tr>")
        parts.append("<section><h2>Windows</h2><p>Each test's score (p-value); a red cell is below the level.</p>"
                     f"<table><tr><th>#</th><th>from (UTC)</th><th>to</th><th>versions</th><th>verdict</th>{header}"
                     f"</tr>{''.join(rows)}</table></section>")
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>drift: {html.escape(name)}</title>"
            f"<style>{STYLE}</style></head><body>{''.join(parts)}</body></html>")


def write_drift_report(artifact: str | Path, logs: str | Path, output: str | Path, *, window: int = DEFAULT_WINDOW,
                       alpha: float = DEFAULT_ALPHA, model: str | None = None) -> tuple[Path, list[DriftWindow]]:
    """Score the logs under ``logs`` against ``artifact``'s profile and write the page to ``output`` atomically."""
    stored = read_artifact(artifact, verify_weights=False).profile
    if stored is None:
        raise FlexzooError(f"{artifact}: the artifact records no reference profile (it was built without data); "
                           "train it, or build it with [train] data, to compare served samples with its data")
    records = read_logs(logs, model)
    if len(records) < window:
        raise FlexzooError(f"{logs}: {len(records)} logged samples{f' of model {model}' if model else ''}, fewer than "
                           f"one window of {window}; log more, or pass a smaller --window")
    windows = drift_over_time(Profile.from_dict(stored), records, window, alpha)
    page = render_drift_report(artifact, windows, len(records), window)
    target = write_atomically(output, lambda partial: partial.write_text(page, encoding="utf-8"))
    return target, windows
