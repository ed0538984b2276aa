"""``zoo predict ARTIFACT INPUT...``: run an artifact on image files, folders, .npy/.npz or JSON inputs."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from typing import Any

from flexzoo.cli.nodes import add_node_options
from flexzoo.cli.render import emit_json, table

RUNTIME_CHOICES = ("eager", "compile", "onnx", "exported-program", "auto")  # flexzoo.prediction.RUNTIMES, without torch
MANY_INPUTS = 256  # from here on, a terminal shows a progress bar
SHARD_FORMATS = ("jsonl", "parquet")  # flexzoo.prediction.result_files.FORMATS, without importing it


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
                         help="eager (default), compile (torch.compile), onnx (onnxruntime), exported-program, or "
                         "auto: the fastest of them here at --batch-size whose outputs match eager")
    predict.add_argument("--csv", action="store_true", help="print CSV: one row per input and head")
    predict.add_argument("-o", "--output", metavar="DIR",
                         help="write the results to DIR as shards (shard-NNNNN.jsonl or .parquet), atomically; "
                         "shards already there are skipped, so the same command resumes a stopped run")
    predict.add_argument("--format", choices=SHARD_FORMATS, default="jsonl",
                         help="with -o: the shards' format, JSON lines (default) or Parquet")
    predict.add_argument("--nproc", type=int, default=0, metavar="N",
                         help="with -o: spread the shards over N processes (torch's elastic launcher)")
    add_node_options(predict, "predict", "flexzoo-predict")


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
            elif "values" in value:
                shown = ", ".join(f"{v:.4g}" for v in value["values"])
            else:  # a plugin task's own answer
                shown = json.dumps(value, separators=(", ", ": "))
            rows.append([name, head, shown])
    return rows


def cmd_predict(args: argparse.Namespace) -> int:
    from flexzoo.prediction import InputError, Predictor, read_inputs
    from flexzoo.reporting.progress import Bars

    if args.top_k < 1:
        raise InputError(f"--top-k must be at least 1, got {args.top_k}")
    if args.nproc < 0 or (args.nproc and not args.output):
        raise InputError("--nproc takes a positive number of processes, and needs -o DIR to write the shards to")
    if args.nnodes is not None and not args.output:
        raise InputError("--nnodes needs -o DIR to write the shards to")
    if args.output:
        return _sharded(args)
    predictor = Predictor.load(args.artifact, args.runtime, batch_size=args.batch_size)
    if predictor.runtime_choice:
        print(predictor.runtime_choice.summary(), file=sys.stderr)
    samples = read_inputs(args.inputs, predictor.input_shape, predictor.preprocessing)
    names = [sample.name for sample in samples]
    with Bars("samples", shown=None if len(samples) > MANY_INPUTS else False) as bars:
        results = predictor.predict_samples([sample.array for sample in samples], args.batch_size, args.top_k,
                                            bars.counter("predict", len(samples)),
                                            [sample.geometry for sample in samples])
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
                if not {"top_k", "pixels", "boxes", "values"} & set(value):  # a plugin task's own answer, as JSON
                    writer.writerow([name, head, "", "", "", json.dumps(value)])
    else:
        print(table(["INPUT", "HEAD", "PREDICTION"], _rows(names, results)))
    return 0


def _sharded(args: argparse.Namespace) -> int:
    """``-o DIR``: this rank's shards, or, with ``--nproc N`` or ``--nnodes`` outside torchrun, the ranks of this
    node, each running this same command."""
    import os
    from pathlib import Path

    from flexzoo.cli.nodes import nodes_from_args
    from flexzoo.training.launch import inside_torchrun, launch

    nodes = nodes_from_args(args, "flexzoo-predict")
    if args.format == "parquet":
        from flexzoo.prediction.result_files import parquet_schema

        parquet_schema({})  # pyarrow is there, or one message says how to install it (before any rank starts)
    if (args.nproc > 1 or nodes is not None) and not inside_torchrun():
        from flexzoo.prediction.sharded import input_files

        input_files(args.inputs)  # a missing input is one message here, not one failure per rank
        launch(args.nproc or 1, ["predict", args.artifact, *args.inputs, "-o", args.output, "--format", args.format,
                                 "--top-k", str(args.top_k), "--batch-size", str(args.batch_size), "--runtime",
                                 args.runtime], nodes, job="prediction", resume="the same command (written shards "
                                 "are kept)")
        print(f"wrote {len(list(Path(args.output).glob(f'shard-*.{args.format}')))} shard(s) to {args.output}")
        return 0
    from flexzoo.prediction import Predictor
    from flexzoo.prediction.sharded import input_files, predict_shards

    rank, world = int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))
    predictor = Predictor.load(args.artifact, args.runtime, batch_size=args.batch_size)
    written, skipped = predict_shards(predictor, input_files(args.inputs), args.output, rank, world,
                                      batch_size=args.batch_size, top_k=args.top_k, file_format=args.format)
    if rank == 0 and not inside_torchrun():
        print(f"wrote {written} shard(s) to {args.output}" + (f", skipped {skipped} already there" if skipped else ""))
    return 0
