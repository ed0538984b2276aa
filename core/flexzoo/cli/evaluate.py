"""``zoo evaluate ARTIFACT``: accuracy on clean data, under ImageNet-C corruptions and under FGSM/PGD attacks.

The data is a data source as ``[train] data`` names one (``digits``, ``imagefolder:PATH``, ``PATH.npz``...):
the artifact's own training data (the default) is measured on its held-out validation split, any other
source on all its samples. Images are taken back to pixel space ``[0, 1]`` (the card's mean and std
undone), corrupted or attacked there, and the preprocessing is applied inside the attacked function.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

from flexzoo.cli.explain import EXPORTED_SUFFIXES
from flexzoo.cli.predict import RUNTIME_CHOICES
from flexzoo.cli.render import add_quiet_option, emit_json, table
from flexzoo.errors import FlexzooError

#: Where ``--record`` puts the results in the artifact's card.
CARD_KEY = "robustness"
PIXEL_TOLERANCE = 1e-4  # rounding of (x - mean) / std and back


def register(verbs: Any) -> None:
    evaluate = verbs("evaluate", "measure an artifact's accuracy on clean data, under ImageNet-C corruptions and "
                     "under FGSM/PGD attacks", cmd_evaluate)
    evaluate.add_argument("artifact")
    evaluate.add_argument("--data", metavar="SOURCE",
                          help="a data source as [train] data names one (digits, imagefolder:PATH, PATH.npz...); "
                               "default: the artifact's training data, on its validation split")
    evaluate.add_argument("--head", metavar="H", help="the classification head measured (default: the first)")
    evaluate.add_argument("--corruptions", metavar="NAME[,NAME...]",
                          help="ImageNet-C corruptions, or `all` (the 15 of the paper)")
    evaluate.add_argument("--severities", default="1-5", metavar="1-5",
                          help="severities of the corruptions: a range (1-5) or a list (1,3,5); default 1-5")
    evaluate.add_argument("--attack", metavar="fgsm|pgd", help="attacks, in pixel space: fgsm, pgd or fgsm,pgd")
    evaluate.add_argument("--epsilon", metavar="E[,E...]",
                          help="the attacks' L-infinity budgets, in pixel values in [0, 1] (0.1 = 10%% of the range)")
    evaluate.add_argument("--steps", type=int, default=10, help="PGD's iterations (default 10; step 2.5 eps/steps)")
    evaluate.add_argument("--reference", metavar="ARTIFACT",
                          help="a reference model: the mean corruption error (mCE) is relative to its errors")
    evaluate.add_argument("--samples", type=int, metavar="N", help="measure on the first N samples only")
    evaluate.add_argument("--seed", type=int, default=0, help="seed of the corruptions and PGD's random starts")
    evaluate.add_argument("--runtime", choices=RUNTIME_CHOICES, default="eager",
                          help="eager (default); exported runtimes have no gradients to attack and are refused")
    add_quiet_option(evaluate, "pass (clean, each corruption and severity, each attack and epsilon)")
    evaluate.add_argument("--record", action="store_true",
                          help=f"record the results in the artifact's card (`{CARD_KEY}`; the file is rewritten "
                               "atomically, its weights unchanged)")


# -- the command line's values ------------------------------------------------------------------------

def _names(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _corruptions(text: str | None) -> list[str]:
    from flexzoo.host.registry import did_you_mean
    from flexzoo.robustness.corruptions import CORRUPTIONS

    if not text:
        return []
    names = list(CORRUPTIONS) if text.strip() == "all" else _names(text)
    for name in names:
        if name not in CORRUPTIONS:
            raise FlexzooError("; ".join(filter(None, [
                f"unknown corruption `{name}`", did_you_mean(name, list(CORRUPTIONS)),
                f"the corruptions: {', '.join(CORRUPTIONS)} (or `all`)"])))
    if not names:
        raise FlexzooError("--corruptions names no corruption; give NAME[,NAME...] or `all`")
    return names


def _severities(text: str) -> list[int]:
    first, dash, last = text.partition("-")
    try:
        values = list(range(int(first), int(last) + 1)) if dash else [int(v) for v in _names(text)]
    except ValueError:
        raise FlexzooError(f"--severities takes a range (1-5) or a list (1,3,5) of 1 to 5, got {text!r}") from None
    wrong = [v for v in values if not 1 <= v <= 5]
    if wrong or not values:
        raise FlexzooError(f"severities go from 1 to 5, got {text!r}; give a range (1-5) or a list (1,3,5)")
    return values


def _attacks(text: str | None, epsilons: str | None) -> tuple[list[str], list[float]]:
    from flexzoo.host.registry import did_you_mean
    from flexzoo.robustness.attacks import ATTACKS

    if not text:
        if epsilons:
            raise FlexzooError("--epsilon needs --attack fgsm|pgd")
        return [], []
    methods = _names(text)
    for method in methods:
        if method not in ATTACKS:
            raise FlexzooError("; ".join(filter(None, [f"unknown attack `{method}`", did_you_mean(method, ATTACKS),
                                                      f"the attacks: {', '.join(ATTACKS)}"])))
    if not epsilons:
        raise FlexzooError("--attack needs --epsilon E[,E...]: the budgets, in pixel values in [0, 1] (0.1 for 10%)")
    try:
        values = [float(v) for v in _names(epsilons)]
    except ValueError:
        raise FlexzooError(f"--epsilon takes numbers (0.05,0.1), got {epsilons!r}") from None
    wrong = [v for v in values if not 0 <= v <= 1]
    if wrong or not values:
        raise FlexzooError(f"an epsilon is a change of pixel values in [0, 1], so from 0 to 1; got {epsilons!r}")
    return methods, values


def _refuse_exported(args: argparse.Namespace) -> None:
    reason = ""
    if args.runtime not in ("eager", "compile"):
        reason = f"the `{args.runtime}` runtime runs an exported graph"
    elif Path(args.artifact).suffix.lower() in EXPORTED_SUFFIXES:
        reason = f"{args.artifact} is an exported model"
    if reason:
        raise FlexzooError(f"zoo evaluate attacks the model through its gradients and undoes its card's "
                           f"preprocessing, and {reason}; evaluate the artifact (.safetensors) with the eager runtime")


# -- the model and the data ---------------------------------------------------------------------------

def _classification_head(info: Any, wanted: str | None) -> str:
    from flexzoo.host.registry import did_you_mean

    heads = info.card["heads"]
    classifying = [name for name, head in heads.items()
                   if head.get("output_shape") is not None and len(head["output_shape"]) == 2
                   and head.get("kind") in (None, "classification")]
    if wanted is None:
        if not classifying:
            raise FlexzooError(f"{info.path}: zoo evaluate measures a classification head's accuracy, and the model "
                               f"has none (heads: {', '.join(heads)})")
        return classifying[0]
    if wanted not in heads:
        raise FlexzooError("; ".join(filter(None, [f"the model has no head `{wanted}`", did_you_mean(wanted, heads),
                                                  f"its heads: {', '.join(heads)}"])))
    if wanted not in classifying:
        raise FlexzooError(f"head `{wanted}` is not a classification head (output {heads[wanted]['output_shape']}); "
                           f"zoo evaluate measures accuracy: choose one of {', '.join(classifying) or 'none'}")
    return wanted


def _data(model: Any, source: str | None, registry: Any) -> tuple[Any, Any, str]:
    """The samples' model inputs and targets, and which split they are (``validation`` or ``all``)."""
    from flexzoo.errors import Problem
    from flexzoo.manifest.train import validate_train
    from flexzoo.pipeline.stages import Pipeline

    manifest = model.manifest
    stored = manifest.train
    if source is None:
        if stored is None:
            raise FlexzooError("the artifact records no [train] data to evaluate on; give --data SOURCE "
                               "(digits, imagefolder:PATH, PATH.npz...)")
        train = stored
    elif stored is not None:  # the training's split and heads, on other data
        train = {**{k: v for k, v in stored.items() if k not in ("source", "bootstrap")}, "data": source}
    else:
        problems: list[Problem] = []
        train = validate_train({"data": source}, list(manifest.heads), problems.append)
        if train is None:
            raise FlexzooError(f"--data {source}: " + "; ".join(p.message for p in problems))
    pipeline = Pipeline(dataclasses.replace(manifest, train=train), registry)
    data = pipeline.training_data()
    own = stored is not None and (source is None or source == stored.get("data"))
    import torch

    index = data.validation_index if own else torch.cat([data.train_index, data.validation_index]).unique()
    inputs, targets = data.batch(index)
    return inputs, {"targets": targets, "config": pipeline.config}, "validation" if own else "all"


def _pixels(inputs: Any, preprocessing: dict[str, Any] | None, wants_pixels: bool) -> Any:
    """The inputs back in pixel space [0, 1]; arrays are taken as pixels when they lie in [0, 1]."""
    import torch

    mean, std = (preprocessing or {}).get("mean"), (preprocessing or {}).get("std")
    if mean and std:
        shape = (1, -1, 1, 1)
        inputs = inputs * torch.tensor(std).reshape(shape) + torch.tensor(mean).reshape(shape)
    low, high = float(inputs.min()), float(inputs.max())
    if wants_pixels and (low < -PIXEL_TOLERANCE or high > 1 + PIXEL_TOLERANCE):
        raise FlexzooError(f"corruptions and attacks work on pixels in [0, 1], and the data's inputs range over "
                           f"[{low:.3g}, {high:.3g}] with no recorded mean/std to undo; give image data, or arrays "
                           "scaled to [0, 1]")
    return inputs.clamp(0, 1) if wants_pixels else inputs


# -- the command --------------------------------------------------------------------------------------

def cmd_evaluate(args: argparse.Namespace) -> int:
    _refuse_exported(args)
    corruptions = _corruptions(args.corruptions)
    severities = _severities(args.severities)
    attacks, epsilons = _attacks(args.attack, args.epsilon)
    if args.steps < 1:
        raise FlexzooError(f"--steps must be at least 1, got {args.steps}")
    if args.samples is not None and args.samples < 1:
        raise FlexzooError(f"--samples must be at least 1, got {args.samples}")
    if args.reference and not corruptions:
        raise FlexzooError("--reference gives the mean corruption error: it needs --corruptions")
    results, info = _measure(args.artifact, args, corruptions, severities, attacks, epsilons)
    if args.reference:
        from flexzoo.robustness.evaluation import mean_corruption_error

        reference, _ = _measure(args.reference, args, corruptions, severities, [], [])
        results["mce"] = {**mean_corruption_error(results, reference), "reference": str(args.reference)}
    if args.record:
        from flexzoo.artifact.update import record_in_card

        record_in_card(info.path, CARD_KEY, results)
    if args.json:
        emit_json(results)
    else:
        print(render(results))
        if args.record:
            print(f"recorded in {info.path} (card `{CARD_KEY}`)")
    return 0


def _measure(artifact: str, args: argparse.Namespace, corruptions: list[str], severities: list[int],
             attacks: list[str], epsilons: list[float]) -> tuple[dict[str, Any], Any]:
    import torch

    from flexzoo.artifact.format import read_artifact
    from flexzoo.host.registry import default_registry
    from flexzoo.hub.artifacts import artifact_file
    from flexzoo.pipeline.stages import load
    from flexzoo.reporting.progress import display_of
    from flexzoo.robustness.attacks import PixelClassifier
    from flexzoo.robustness.evaluation import evaluate_robustness

    path = artifact_file(artifact)
    info = read_artifact(path, verify_weights=False)
    head = _classification_head(info, args.head)
    shape = info.card.get("input_shape") or []
    if (corruptions or attacks) and not (len(shape) == 3 and shape[0] in (1, 3)):
        raise FlexzooError(f"{path}: corruptions and attacks are defined on images [1 or 3 channels, height, "
                           f"width], and the model's input is {shape or info.card.get('inputs')}; evaluate it "
                           "without --corruptions and --attack")
    registry = default_registry()
    model = load(path, registry)
    inputs, extra, split = _data(model, args.data, registry)
    target = next((h.target for h in extra["config"].heads if h.name == head), head)
    if target not in extra["targets"]:
        raise FlexzooError(f"the data has no target `{target}` for head `{head}`; its targets: "
                           f"{', '.join(extra['targets'])}")
    labels = extra["targets"][target].long()
    preprocessing = info.card.get("preprocessing")
    pixels = _pixels(inputs.float(), preprocessing, bool(corruptions or attacks))
    if args.samples:
        pixels, labels = pixels[:args.samples], labels[:args.samples]
    classifier = PixelClassifier(model, head, *((preprocessing["mean"], preprocessing["std"])
                                                if preprocessing and preprocessing.get("mean") else (None, None)))
    torch.manual_seed(args.seed)
    results = evaluate_robustness(classifier, pixels, labels, corruptions=corruptions, severities=severities,
                                  attacks=attacks, epsilons=epsilons, steps=args.steps, seed=args.seed,
                                  display=display_of(json=args.json, quiet=args.quiet),
                                  description=f"evaluate {path.name}")
    return {"artifact": str(path), "model": info.manifest["model"]["name"], "weights_sha256": info.weights_sha256,
            "head": head, "data": args.data or (model.manifest.train or {}).get("data"), "split": split,
            "seed": args.seed, **results}, info


def render(results: dict[str, Any]) -> str:
    """The results as the tables ``zoo evaluate`` prints (also the report's text)."""
    lines = [f"{results['model']} head `{results['head']}` on {results['data']} ({results['split']}, "
             f"{results['samples']} samples): clean accuracy {results['clean']:.4f}"]
    corruptions = results.get("corruptions")
    if corruptions:
        severities = list(next(iter(corruptions.values())))
        rows = [[name, *(f"{row[s]:.4f}" for s in severities), f"{sum(row.values()) / len(row):.4f}"]
                for name, row in corruptions.items()]
        lines += ["", table(["CORRUPTION", *(f"S{s}" for s in severities), "MEAN"], rows),
                  f"mean accuracy under corruption {results['corruption_accuracy']:.4f}"]
    mce = results.get("mce")
    if mce and mce.get("mce") is not None:
        lines.append(f"mCE {mce['mce']:.3f} relative to {mce['reference']} (clean {mce['reference_clean']:.4f})")
    for method, entry in results.get("attacks", {}).items():
        name = f"PGD-{entry['steps']}" if method == "pgd" else "FGSM"
        steps = entry.get("step_sizes", {})  # FGSM: one step of epsilon
        rows = [[name, epsilon, f"{steps.get(epsilon, float(epsilon)):g}", f"{value:.4f}"]
                for epsilon, value in entry["epsilons"].items()]
        lines += ["", table(["ATTACK", "EPSILON", "STEP", "ROBUST ACCURACY"], rows)]
    return "\n".join(lines)
