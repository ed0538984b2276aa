"""``zoo predict ARTIFACT INPUT...``: run an artifact on image files, folders, .npy/.npz or JSON inputs."""

from __future__ import annotations

import argparse
import csv
import sys
from typing import Any

from flexzoo.cli.render import emit_json, table

RUNTIME_CHOICES = ("eager", "compile", "onnx", "exported-program")  # flexzoo.prediction.RUNTIMES, without torch


def register(verbs: Any) -> None:
    predict = verbs("predict", "predict with an artifact: top-k labels (classification), boxes (detection) or values "
                    "per head",
                    cmd_predict)
    predict.add_argument("artifact")
    predict.add_argument("inputs", nargs="+", metavar="INPUT",
                         help="image files, folders of images, .npy, .npz or .json files")
    predict.add_argument("--top-k", type=int, default=1, metavar="K", help="labels shown per head (default: 1)")
    predict.add_argument("--batch-size", type=int, default=64, metavar="N", help="samples per batch (default: 64)")
    predict.add_argument("--runtime", choices=RUNTIME_CHOICES, default="eager",
                         help="eager (default), compile (torch.compile), onnx (onnxruntime) or exported-program")
    predict.add_argument("--csv", action="store_true", help="print CSV: one row per input and head")


class _Bar:
    """A progress line on stderr when it is a terminal and the inputs are many."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.shown = sys.stderr.isatty() and total > 256

    def __call__(self, done: int) -> None:
        if self.shown:
            sys.stderr.write(f"\rpredicted {done}/{self.total}")
            sys.stderr.flush()
            if done >= self.total:
                sys.stderr.write("\n")


def _rows(names: list[str], results: list[dict[str, Any]]) -> list[list[Any]]:
    rows = []
    for name, result in zip(names, results):
        for head, value in result.items():
            if "boxes" in value:
                shown = "; ".join(f"{b['label']} {b['score']:.3f} [{b['x1']:.1f}, {b['y1']:.1f}, {b['x2']:.1f}, "
                                  f"{b['y2']:.1f}]" for b in value["boxes"]) or "no boxes"
            elif "pixels" in value:
                shown = "pixels: " + ", ".join(f"{label} {n}" for label, n in value["pixels"].items())
            elif "top_k" in value:
                shown = ", ".join(f"{t['label']} ({t['probability']:.3f})" for t in value["top_k"])
            else:
                shown = ", ".join(f"{v:.4g}" for v in value["values"])
            rows.append([name, head, shown])
    return rows


def cmd_predict(args: argparse.Namespace) -> int:
    from flexzoo.prediction import InputError, Predictor, read_inputs

    if args.top_k < 1:
        raise InputError(f"--top-k must be at least 1, got {args.top_k}")
    predictor = Predictor.load(args.artifact, args.runtime)
    samples = read_inputs(args.inputs, predictor.input_shape, predictor.preprocessing)
    names = [sample.name for sample in samples]
    results = predictor.predict_samples([sample.array for sample in samples], args.batch_size, args.top_k,
                                        _Bar(len(samples)), [sample.geometry for sample in samples])
    if args.json:
        emit_json([{"input": name, "outputs": result} for name, result in zip(names, results)])
    elif args.csv:
        writer = csv.writer(sys.stdout)
        writer.writerow(["input", "head", "rank", "label", "probability", "value"])
        for name, result in zip(names, results):
            for head, value in result.items():
                for rank, top in enumerate(value.get("top_k", []), 1):
                    writer.writerow([name, head, rank, top["label"], f"{top['probability']:.6g}", ""])
                for label, pixels in value.get("pixels", {}).items():  # the mask itself: --json
                    writer.writerow([name, head, "", label, "", pixels])
                for rank, box in enumerate(value.get("boxes", []), 1):  # value: x1 y1 x2 y2 in the image's pixels
                    writer.writerow([name, head, rank, box["label"], f"{box['score']:.6g}",
                                     " ".join(f"{box[edge]:.6g}" for edge in ("x1", "y1", "x2", "y2"))])
                for index, number in enumerate(value.get("values", [])):
                    writer.writerow([name, head, index, "", "", f"{number:.6g}"])
    else:
        print(table(["INPUT", "HEAD", "PREDICTION"], _rows(names, results)))
    return 0
