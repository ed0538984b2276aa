"""``zoo explain ARTIFACT INPUT...``: attribute an artifact's predictions to its inputs, and check the maps."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from flexzoo.cli.predict import RUNTIME_CHOICES
from flexzoo.cli.render import emit_json, table
from flexzoo.errors import FlexzooError

#: Files an exported runtime reads: they hold a graph without gradients.
EXPORTED_SUFFIXES = (".onnx", ".pt2", ".pt", ".ts")


def register(verbs: Any) -> None:
    explain = verbs("explain", "explain an artifact's predictions: heat maps (images) or per-step and per-feature "
                    "attributions, with checks", cmd_explain)
    explain.add_argument("artifact")
    explain.add_argument("inputs", nargs="+", metavar="INPUT",
                         help="image files, folders of images, .npy, .npz or .json files (as zoo predict reads them)")
    explain.add_argument("--method", default="integrated-gradients", metavar="NAME[,NAME...]",
                         help="explainers (zoo list explainers): integrated-gradients (default), saliency, grad-cam, "
                              "occlusion, gradient-shap, or a plugin's")
    explain.add_argument("--head", metavar="H", help="the head explained (default: the first)")
    explain.add_argument("--target", default="top", metavar="LABEL|top",
                         help="the class explained: top (the prediction, default), a label or a class index")
    explain.add_argument("--layer", metavar="MAP", help="grad-cam: which declared feature map (default: the last)")
    explain.add_argument("--set", dest="settings", action="append", default=[], metavar="KEY=VALUE",
                         help="an explainer setting, as a TOML value (--set steps=200); zoo info NAME lists them")
    explain.add_argument("--sanity", action="store_true",
                         help="run the model-randomization test: re-initialize the head and the last backbone stage "
                              "and say which methods' maps change (Adebayo et al. 2018)")
    explain.add_argument("--runtime", choices=RUNTIME_CHOICES, default="eager",
                         help="eager (default) or compile; exported runtimes have no gradients and are refused")
    explain.add_argument("-o", "--out", default="explanations", metavar="DIR",
                         help="where the overlays, attributions and explanations.json go (default: explanations)")


def _settings(given: list[str]) -> dict[str, Any]:
    import tomllib

    settings: dict[str, Any] = {}
    for item in given:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise FlexzooError(f"--set takes KEY=VALUE, got {item!r}")
        try:
            settings[key.strip()] = tomllib.loads(f"v = {value}")["v"]
        except tomllib.TOMLDecodeError:
            settings[key.strip()] = value  # a bare word: a string
    return settings


def _per_method(methods: list[str], settings: dict[str, Any], registry: Any) -> dict[str, dict[str, Any]]:
    """Each method's own settings; with one method all of them (unknown ones are refused by its factory)."""
    if len(methods) == 1:
        return {methods[0]: settings}
    from flexzoo.manifest import schema

    accepted = {m: {p.name for p in schema.parameters(registry.resolve("explainer", m.replace("-", "_"))
                                                       .component.factory)} for m in methods}
    unused = [key for key in settings if not any(key in names for names in accepted.values())]
    if unused:
        raise FlexzooError(f"no method of {', '.join(methods)} has the setting `{unused[0]}`; "
                           "zoo info NAME lists each explainer's settings")
    return {m: {k: v for k, v in settings.items() if k in accepted[m]} for m in methods}


def _refuse_exported(args: argparse.Namespace) -> None:
    reason = ""
    if args.runtime not in ("eager", "compile"):
        reason = f"the `{args.runtime}` runtime runs an exported graph"
    elif Path(args.artifact).suffix.lower() in EXPORTED_SUFFIXES:
        reason = f"{args.artifact} is an exported model"
    if reason:
        raise FlexzooError(f"attributions need gradients, and {reason} without them; explain the artifact "
                           "(.safetensors) with the eager runtime")


def _report(summary: dict[str, Any]) -> None:
    rows = [[s["input"], m["head"], m["method"], s["target"], f"{s['score']:.4g}", s["files"].get("overlay")
             or s["files"].get("chart", "")] for m in summary["explanations"] for s in m["samples"]]
    print(table(["INPUT", "HEAD", "METHOD", "TARGET", "SCORE", "FILE"], rows))
    for method in summary["explanations"]:
        gap = method.get("completeness_gap")
        if gap:
            print(f"{method['method']}: completeness gap {gap['batch']:.2e} (median {gap['median']:.2e}, worst "
                  f"sample {gap['max']:.2e})")
        sanity = method.get("sanity")
        if sanity:
            verdict = "passes" if sanity["passed"] else "FAILS"
            print(f"{method['method']}: {verdict} the randomization test (rank correlation "
                  f"{sanity['spearman']['mean']:.3f}, passing below {sanity['pass_below']})")


def cmd_explain(args: argparse.Namespace) -> int:
    import numpy as np

    from flexzoo.explain.output import SUMMARY, write_explanations
    from flexzoo.host.registry import default_registry
    from flexzoo.prediction import Predictor, read_inputs

    _refuse_exported(args)
    methods = [m.strip() for m in args.method.split(",") if m.strip()]
    if not methods:
        raise FlexzooError("--method names no explainer; zoo list explainers shows them")
    registry = default_registry()
    for method in methods:
        registry.resolve("explainer", method.replace("-", "_"))  # an unknown name fails before the model loads
    settings = _per_method(methods, _settings(args.settings), registry)
    predictor = Predictor.load(args.artifact, args.runtime, registry)
    samples = read_inputs(args.inputs, predictor.input_shape, predictor.preprocessing)
    batch = np.stack([sample.array for sample in samples]).astype(np.float32)
    explanations = [predictor.explain(batch, method, args.head, args.target, args.layer, args.sanity,
                                      **settings[method]) for method in methods]
    header = {"artifact": str(args.artifact), "model": predictor.name, "weights_sha256": predictor.sha256,
              "input_shape": list(predictor.input_shape), "preprocessing": predictor.preprocessing}
    summary = write_explanations(args.out, explanations, [s.name for s in samples], batch, header)
    for explanation in explanations:
        gap = explanation.gap_summary() if explanation.completeness_gap is not None else None
        if gap and not gap["passed"]:
            steps = explanation.settings.get("steps")
            more = f" (--set steps={2 * steps})" if isinstance(steps, int) else ""
            print(f"warning: {explanation.method}: completeness gap {gap['batch']:.2e} is above {gap['warning']}; "
                  f"the attributions do not add up to the score's change: give more steps{more}", file=sys.stderr)
    if args.json:
        emit_json(summary)
    else:
        _report(summary)
        print(f"wrote {Path(args.out) / SUMMARY}")
    return 0
