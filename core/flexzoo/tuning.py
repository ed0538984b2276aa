"""``zoo tune``: search a manifest's keys with Optuna; each trial is a full training run through the pipeline.

``--space KEY=DIST`` names any manifest key (``train.lr``, ``backbone.channels``) and a distribution:
``uniform(a,b)``, ``loguniform(a,b)``, ``int(a,b)``, ``choice(v1,v2,...)``. Every value the space can give
is validated like the manifest before the first trial. The objective is a validation metric of the last
epoch; each epoch's value is reported to Optuna (through the run hook ``flexzoo_epoch_end``) so that its
pruner stops bad trials. The study lives in an Optuna storage: a local SQLite file by default, any
Optuna RDB URL to share it between processes or machines; a killed study resumes where it stopped.
"""

from __future__ import annotations

import ast
import copy
import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flexzoo.errors import FlexzooError, ManifestError
from flexzoo.hookspecs import hookimpl
from flexzoo.manifest import ManifestSource, read_manifest
from flexzoo.pipeline import train
from flexzoo.registry import Registry, default_registry
from flexzoo.training.config import HIGHER_IS_BETTER
from flexzoo.validation import validate

__all__ = ["Dimension", "parse_space", "tune"]

_DIST = re.compile(r"^\s*(uniform|loguniform|int|choice)\s*\((.*)\)\s*$", re.S)


@dataclass(frozen=True)
class Dimension:
    """One searched key: ``kind`` is uniform, loguniform, int or choice; ``values`` its bounds or choices."""

    key: str
    kind: str
    values: tuple[Any, ...]

    def suggest(self, trial: Any) -> Any:
        if self.kind == "uniform":
            return trial.suggest_float(self.key, *self.values)
        if self.kind == "loguniform":
            return trial.suggest_float(self.key, *self.values, log=True)
        if self.kind == "int":
            return trial.suggest_int(self.key, *self.values)
        index = trial.suggest_categorical(self.key, list(range(len(self.values))))
        return self.values[index]


def parse_space(items: list[str]) -> list[Dimension]:
    """``KEY=DIST`` strings as dimensions; a malformed one is an error that shows the accepted forms."""
    dimensions = []
    for item in items:
        key, sep, text = item.partition("=")
        found = _DIST.match(text)
        if not sep or not found:
            raise FlexzooError(f"--space {item!r}: expected KEY=DIST with DIST one of uniform(a,b), loguniform(a,b), "
                               "int(a,b), choice(v1,v2,...)")
        try:
            values = ast.literal_eval(f"({found.group(2)},)")
        except (ValueError, SyntaxError) as exc:
            raise FlexzooError(f"--space {item!r}: the values are not literals ({exc})") from None
        kind = found.group(1)
        if kind != "choice" and (len(values) != 2 or not values[0] < values[1]):
            raise FlexzooError(f"--space {item!r}: {kind} needs two bounds, low < high")
        if kind == "loguniform" and values[0] <= 0:
            raise FlexzooError(f"--space {item!r}: loguniform needs a positive low bound")
        dimensions.append(Dimension(key.strip(), kind, tuple(values)))
    return dimensions


def _set(data: dict[str, Any], key: str, value: Any) -> None:
    *tables, last = key.split(".")
    for name in tables:
        data = data.setdefault(name, {})
    data[last] = list(value) if isinstance(value, tuple) else value


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return repr(value)


def dump_toml(data: dict[str, Any], prefix: str = "") -> str:
    """A manifest (nested tables, arrays of tables) as TOML text."""
    plain = [f"{k} = {_toml(v)}" for k, v in data.items()
             if not isinstance(v, dict) and not (isinstance(v, list) and v and all(isinstance(i, dict) for i in v))]
    parts = [(f"[{prefix}]\n" if prefix and plain else "") + "\n".join(plain)]
    for key, value in data.items():
        path = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict):
            parts.append(dump_toml(value, path))
        elif isinstance(value, list) and value and all(isinstance(i, dict) for i in value):
            for item in value:
                inner = dump_toml(item, path)
                parts.append(f"[[{path}]]\n" + inner.split("\n", 1)[1] if inner.startswith(f"[{path}]") else inner)
    return "\n\n".join(p for p in parts if p.strip()) + "\n"


class _Reporter:
    """A run-hook plugin of the tuner's own: reports each epoch's objective to the trial, prunes on request."""

    def __init__(self, metric: str) -> None:
        self.metric = metric
        self.trial: Any = None

    @hookimpl
    def flexzoo_epoch_end(self, epoch: int, metrics: dict[str, float]) -> None:
        import optuna

        self.trial.report(metrics[f"validation/{self.metric}"], epoch)
        if self.trial.should_prune():
            raise optuna.TrialPruned(f"pruned at epoch {epoch}")


def tune(manifest_path: str | Path, space: list[Dimension], trials: int, *, metric: str | None, out_dir: str | Path,
         storage: str | None = None, study_name: str | None = None, registry: Registry | None = None) -> dict[str, Any]:
    """Run trials until the study holds ``trials`` finished (complete or pruned) ones.

    Writes ``<out>/<name>.tune/best.toml`` (the best trial's manifest) and the best trial's artifact beside it.
    """
    import optuna

    registry = registry or default_registry()
    data, source = read_manifest(manifest_path)
    base = validate(copy.deepcopy(data), source, registry)
    if base.train is None:
        raise FlexzooError(f"{manifest_path}: zoo tune trains each trial; add a [train] section")
    heads = [name for name in base.train["heads"]]
    metric = metric or (base.train.get("early_stopping") or {}).get("metric") or f"{heads[0]}.accuracy"
    for dimension in space:  # every value the space can give must make a valid manifest
        for value in dimension.values:
            candidate = copy.deepcopy(data)
            _set(candidate, dimension.key, value)
            try:
                validate(candidate, ManifestSource(file=source.file, lines=source.lines), registry)
            except ManifestError as exc:
                raise FlexzooError(f"--space {dimension.key}: the value {value!r} does not make a valid manifest:\n"
                                   f"{exc}") from None
    out = Path(out_dir) / f"{base.model.name}.tune"
    out.mkdir(parents=True, exist_ok=True)
    storage = storage or f"sqlite:///{(out / 'study.db').resolve()}"
    direction = "maximize" if metric.rpartition(".")[2] in HIGHER_IS_BETTER else "minimize"
    rdb = _storage(storage)
    study = optuna.create_study(study_name=study_name or base.model.name, storage=rdb, direction=direction,
                                load_if_exists=True, sampler=optuna.samplers.TPESampler(seed=base.model.seed),
                                pruner=optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=1))
    if not study.trials:  # the manifest's own values first: the best trial is never worse than the manifest
        resolved = base.to_dict()
        study.enqueue_trial({d.key: _current(resolved, d) for d in space}, skip_if_exists=True)
    reporter = _Reporter(metric)
    registry.manager.register(reporter, name=f"flexzoo-tune-{id(reporter)}")

    def objective(trial: Any) -> float:
        candidate = copy.deepcopy(data)
        for dimension in space:
            _set(candidate, dimension.key, dimension.suggest(trial))
        manifest = validate(candidate, ManifestSource(file=source.file, lines={}), registry)
        reporter.trial = trial
        result = train(manifest, out / f"trial-{trial.number}", registry)
        (out / f"trial-{trial.number}" / "manifest.toml").write_text(dump_toml(candidate))
        return result.history[-1]["validation"][metric]

    finished = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    try:
        study.optimize(objective, n_trials=trials,
                       callbacks=[optuna.study.MaxTrialsCallback(trials, states=finished)])
    finally:
        registry.manager.unregister(reporter)
    best = study.best_trial
    best_dir = out / f"trial-{best.number}"
    shutil.copyfile(best_dir / "manifest.toml", out / "best.toml")
    artifact = out / f"{base.model.name}.safetensors"
    shutil.copyfile(best_dir / f"{base.model.name}.safetensors", artifact)
    return {"metric": metric, "direction": direction, "best_value": best.value, "best_params": best.params,
            "best_trial": best.number, "trials": len(study.trials), "best_manifest": str(out / "best.toml"),
            "artifact": str(artifact), "storage": storage}


def _current(data: dict[str, Any], dimension: Dimension) -> Any:
    """The manifest's own value of a searched key, as the dimension's parameter (a choice's index)."""
    value: Any = data
    for name in dimension.key.split("."):
        value = value.get(name) if isinstance(value, dict) else None
    if dimension.kind == "choice":
        plain = [list(v) if isinstance(v, tuple) else v for v in dimension.values]
        return plain.index(value) if value in plain else 0
    return value if value is not None else dimension.values[0]


def _storage(url: str) -> Any:
    """The study's RDB storage; workers starting together race to create its tables, so a loser tries again."""
    import time

    import optuna
    import sqlalchemy.exc

    for attempt in range(5):
        try:
            return optuna.storages.RDBStorage(url, heartbeat_interval=5, grace_period=15,
                                              failed_trial_callback=optuna.storages.RetryFailedTrialCallback(1))
        except sqlalchemy.exc.SQLAlchemyError:
            if attempt == 4:
                raise
            time.sleep(0.5 + attempt)
    raise AssertionError("unreachable")
