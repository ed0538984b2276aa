"""``zoo tune``: hyperparameter search over a manifest's keys with Optuna."""

from __future__ import annotations

import argparse
from typing import Any

from flexzoo.cli.render import add_quiet_option, emit_json


def register(verbs: Any) -> None:
    tune = verbs("tune", "search manifest keys with Optuna: each trial trains the manifest; writes the best "
                 "manifest and its artifact", cmd_tune)
    tune.add_argument("manifest")
    tune.add_argument("--space", action="append", default=[], metavar="KEY=DIST", required=True,
                      help="a key and its distribution: uniform(a,b), loguniform(a,b), int(a,b), choice(v1,v2,...); "
                           "repeatable, e.g. --space 'train.lr=loguniform(1e-4,1e-1)'")
    tune.add_argument("--trials", type=int, default=20, metavar="N", help="finished trials the study should hold")
    tune.add_argument("--metric", help="validation metric to optimize (default: [train.early_stopping] metric, "
                      "else <first head>.accuracy)")
    tune.add_argument("-o", "--output", default="out", metavar="DIR", help="where DIR/<study>.tune/ goes")
    tune.add_argument("--storage", help="an Optuna RDB URL (default: sqlite:///DIR/<study>.tune/study.db); "
                      "workers on one storage share the study")
    tune.add_argument("--study", help="the study's name (default: the model's name); "
                      "each study has its own DIR/<study>.tune/")
    tune.add_argument("--cv", type=int, default=1, metavar="K", help="K-fold cross-validation: each trial trains "
                      "on K seeded folds and scores the mean of their metric; the best manifest is then trained "
                      "once more for its artifact (default 1: the manifest's own validation split)")
    add_quiet_option(tune, "trial")


def cmd_tune(args: argparse.Namespace) -> int:
    from flexzoo.reporting.progress import display_of
    from flexzoo.tuning.search import parse_space, tune

    result = tune(args.manifest, parse_space(args.space), args.trials, metric=args.metric, out_dir=args.output,
                  storage=args.storage, study_name=args.study, cv=args.cv,
                  display=display_of(json=args.json, quiet=args.quiet))
    if args.json:
        emit_json(result)
    else:
        folds = f" (mean of {result['cv']} folds)" if result["cv"] > 1 else ""
        print(f"best {result['metric']} {result['best_value']:.4f}{folds} (trial {result['best_trial']} of "
              f"{result['trials']}): {result['best_params']}")
        print(f"wrote {result['best_manifest']} and {result['artifact']}")
    return 0
