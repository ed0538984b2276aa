"""``zoo report``: one self-contained HTML page about an artifact (charts inline as SVG, no network at view time).

The page holds the model card, the training curves per head and metric (from the metrics the artifact
records), the confusion matrix of each classification head on the validation split, the compression
report as charts, and the export checks (each ``[export]`` format written to a temporary folder,
loaded back and compared with the model).
"""

from __future__ import annotations

import html
import json
import tempfile
from pathlib import Path
from typing import Any

from flexzoo.artifact.card import render_card
from flexzoo.artifact.format import read_artifact
from flexzoo.pipeline.stages import Pipeline, load
from flexzoo.reporting import charts

__all__ = ["render_report", "write_report"]

STYLE = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222}
h1{margin-bottom:0}section{margin:2em 0}.charts{display:flex;flex-wrap:wrap;gap:1em}
.charts svg{max-width:520px;height:auto}pre{background:#f6f6f6;padding:1em;overflow:auto}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}"""


def _section(title: str, body: str) -> str:
    return f"<section><h2>{html.escape(title)}</h2>\n{body}\n</section>"


def _training(info: dict[str, Any]) -> str:
    training = info.get("training")
    if not training:
        return "<p>No training record: the artifact was built without <code>[train]</code>.</p>"
    history = [json.loads(line) for line in training["metrics_jsonl"].splitlines() if line.strip()]
    figures = [charts.curves("loss", {"train": [r["train_loss"] for r in history],
                                      "validation": [r["validation"]["loss"] for r in history]})]
    by_head: dict[str, dict[str, list[float]]] = {}
    for record in history:
        for name, value in record["validation"].items():
            head, _, metric = name.rpartition(".")
            if head:
                by_head.setdefault(head, {}).setdefault(metric, []).append(value)
    for head, metrics in by_head.items():
        for metric, values in metrics.items():
            figures.append(charts.curves(f"{head}: {metric} (validation)", {metric: values}))
    return f'<div class="charts">{"".join(figures)}</div>'


def _confusion(path: Path, info: dict[str, Any]) -> str:
    model = load(path)
    manifest = model.manifest
    if manifest.train is None:
        return "<p>No <code>[train]</code> data to evaluate on.</p>"
    import torch

    pipeline = Pipeline(manifest)
    data = pipeline.training_data()
    index = data.validation_index
    inputs, targets = data.batch(index)
    with torch.no_grad():
        outputs = model(inputs.to(next(model.parameters()).dtype))
    figures = []
    for head in pipeline.config.heads if pipeline.config else ():
        if head.task != "classification" or head.target not in targets:
            continue
        predicted = outputs[head.name].argmax(dim=1)
        classes = int(outputs[head.name].shape[1])
        matrix = torch.zeros(classes, classes, dtype=torch.int64)
        matrix.index_put_((targets[head.target].long(), predicted), torch.ones_like(predicted), accumulate=True)
        accuracy = float((predicted == targets[head.target]).float().mean())
        figures.append(charts.confusion_matrix(f"{head.name} ({len(index)} samples, accuracy {accuracy:.3f})",
                                               matrix.tolist()))
    return f'<div class="charts">{"".join(figures)}</div>' if figures else "<p>No classification head.</p>"


def _compression(info: dict[str, Any]) -> str:
    compression = info.get("compression")
    if not compression:
        return "<p>No <code>[[compress]]</code> steps.</p>"
    steps = " → ".join(html.escape(step["use"]) for step in compression["steps"])
    report = compression.get("report")
    if not report:
        return f"<p>Steps: {steps} (no measurements recorded).</p>"
    figures = [charts.bars_before_after("size", {"parameters": (report["parameters"]["before"],
                                                                report["parameters"]["after"]),
                                                 "bytes": (report["bytes"]["before"], report["bytes"]["after"])})]
    latency = {mode: (report["latency"][mode]["before_ms"], report["latency"][mode]["after_ms"])
               for mode in ("eager", "compiled") if mode in report.get("latency", {})}
    if latency:
        figures.append(charts.bars_before_after(f"latency, batch {report['latency']['batch']}", latency, "ms"))
    if report.get("accuracy"):
        figures.append(charts.bars_before_after("validation metrics", {
            name: (pair["before"], pair["after"]) for name, pair in report["accuracy"].items()}))
    return f"<p>Steps: {steps}</p><div class=\"charts\">{''.join(figures)}</div>"


def _exports(path: Path) -> str:
    model = load(path)
    formats = (model.manifest.export or {}).get("formats") or []
    if not formats:
        return "<p>The manifest asks for no <code>[export] formats</code>.</p>"
    rows = []
    with tempfile.TemporaryDirectory() as directory:
        for name in formats:
            try:
                (result,) = Pipeline(model.manifest).export(model, path, [name], directory)
                rows.append((name, "passed", f"{result['max_abs_diff']:.2e}", result["checked_with"]))
            except Exception as exc:  # a failed check is what the report is there to show
                rows.append((name, "FAILED", "-", f"{type(exc).__name__}: {exc}"))
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(cell))}</td>" for cell in row) + "</tr>" for row in rows)
    return ("<table><tr><th>format</th><th>check</th><th>max |difference|</th><th>checked with</th></tr>"
            f"{body}</table>")


def _robustness(info: dict[str, Any]) -> str:
    """What ``zoo evaluate --record`` wrote into the card, and the adversarial training the run did."""
    from flexzoo.cli.evaluate import CARD_KEY, render

    parts = []
    adversarial = (info.get("training") or {}).get("adversarial")
    if adversarial:
        parts.append(f"<p>Adversarially trained: {html.escape(adversarial['method'])}, epsilon "
                     f"{adversarial['epsilon']:g} ({adversarial['steps']} steps of {adversarial['step_size']:g}), "
                     f"{adversarial['ratio']:.0%} of each batch, head <code>{html.escape(adversarial['head'])}</code>."
                     "</p>")
    results = info["card"].get(CARD_KEY)
    if results:
        parts.append(f"<pre>{html.escape(render(results))}</pre>")
    return "".join(parts) or "<p>No robustness results recorded: run <code>zoo evaluate ARTIFACT --corruptions all " \
                             "--attack pgd --epsilon 0.1 --record</code>.</p>"


def render_report(path: str | Path) -> str:
    """The whole page for the artifact at ``path``."""
    path = Path(path)
    artifact = read_artifact(path)
    info = artifact.info
    name = html.escape(f"{info['manifest']['model']['name']} {info['manifest']['model'].get('version', '')}")
    parts = [
        _section("Model card", f"<pre>{html.escape(render_card(info, artifact.weights_sha256))}</pre>"),
        _section("Training curves", _training(info)),
        _section("Confusion matrix (validation split)", _confusion(path, info)),
        _section("Robustness", _robustness(info)),
        _section("Compression", _compression(info)),
        _section("Export checks", _exports(path)),
    ]
    return (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{name}</title><style>{STYLE}</style>"
            f"</head><body><h1>{name}</h1><p>{html.escape(path.name)}</p>\n" + "\n".join(parts) + "</body></html>\n")


def write_report(path: str | Path, output: str | Path | None = None) -> Path:
    """Write the report beside the artifact (``<name>.report.html``) or to ``output``."""
    target = Path(output) if output else Path(path).with_suffix(".report.html")
    target.write_text(render_report(path), encoding="utf-8")
    return target
