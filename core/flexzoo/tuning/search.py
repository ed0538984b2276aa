"""``zoo tune``: search a manifest's keys with Optuna; each trial is a full training run through the pipeline.

``--space KEY=DIST`` names any manifest key (``train.lr``, ``backbone.channels``) and a distribution:
``uniform(a,b)``, ``loguniform(a,b)``, ``int(a,b)``, ``choice(v1,v2,...)``. Every value the space can give
is validated like the manifest before the first trial. The objective is a validation metric of the last
epoch; each epoch's value is reported to Optuna (through the run hook ``flexzoo_epoch_end``) so that its
pruner stops bad trials. ``--cv K`` scores each trial by K-fold cross-validation instead: K runs, one per
fold of a seeded split (``[train] folds``/``fold``), and the mean of their metric. The study lives in an
Optuna storage: a local SQLite file by default, any Optuna RDB URL to share it between processes or
machines; a killed study resumes where it stopped.
"""

from __future__ import annotations

import ast
import contextlib
import copy
import json
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flexzoo.errors import FlexzooError, ManifestError
from flexzoo.host.registry import Registry, default_registry
from flexzoo.manifest.resolved import ManifestSource, read_manifest
from flexzoo.manifest.validation import validate
from flexzoo.pipeline.stages import train
from flexzoo.plugin.hookspecs import hookimpl
from flexzoo.reporting.progress import Display, Units
from flexzoo.tasks import higher_is_better, tasks_of

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
    """A run-hook plugin of the tuner's own: reports the objective to the trial, prunes when the pruner says so.

    Without cross-validation each epoch is a step; with it, each fold is one (the mean of the folds so far),
    so that trials compare at the same step.
    """

    def __init__(self, metric: str, per_epoch: bool) -> None:
        self.metric = metric
        self.per_epoch = per_epoch
        self.trial: Any = None
        self.advance: Any = lambda _: None  # the running trial's bar, one epoch further

    @hookimpl
    def flexzoo_epoch_end(self, epoch: int, metrics: dict[str, float]) -> None:
        self.advance(1)
        if self.per_epoch:
            self.report(metrics[f"validation/{self.metric}"], epoch)

    def report(self, value: float, step: int) -> None:
        import optuna

        self.trial.report(value, step)
        if self.trial.should_prune():
            raise optuna.TrialPruned(f"pruned at step {step}")


def tune(manifest_path: str | Path, space: list[Dimension], trials: int, *, metric: str | None, out_dir: str | Path,
         storage: str | None = None, study_name: str | None = None, cv: int = 1,
         registry: Registry | None = None, display: Display = "off") -> dict[str, Any]:
    """Run trials until the study holds ``trials`` finished (complete or pruned) ones.

    ``display`` shows the trials (:func:`flexzoo.reporting.progress.display_of`): on a terminal a bar of
    the study's trials (n of N, the best so far, ETA) and one of the running trial's epochs; elsewhere one
    line per trial. Optuna's own log lines are kept to warnings meanwhile.

    With ``cv`` K > 1 each trial trains K times, on the K folds of a seeded split of the data
    (``[train] folds``/``fold``), and its objective is the mean of the folds' metric.
    Writes ``<out>/<study>.tune/best.toml`` (the best trial's manifest; the study is named for the model
    unless ``study_name`` says otherwise) and its artifact beside it: the best trial's own, or, with ``cv``,
    one trained from ``best.toml`` once the study is done.
    """
    import optuna

    registry = registry or default_registry()
    data, source = read_manifest(manifest_path)
    base = validate(copy.deepcopy(data), source, registry)
    if base.train is None:
        raise FlexzooError(f"{manifest_path}: zoo tune trains each trial; add a [train] section")
    if cv < 1:
        raise FlexzooError(f"--cv {cv}: give 2 or more folds (1, the default, means no cross-validation)")
    if cv > 1 and "folds" in base.train:
        raise FlexzooError(f"--cv {cv}: {manifest_path} sets [train] folds itself; remove folds and fold there, "
                           "--cv sets them for each trial")
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
    study_name = study_name or base.model.name
    out = Path(out_dir) / f"{study_name}.tune"  # one folder per study: trial numbers restart in each
    out.mkdir(parents=True, exist_ok=True)
    storage = storage or f"sqlite:///{(out / 'study.db').resolve()}"
    head = base.heads.get(metric.partition(".")[0])
    tasks = tasks_of(registry, head.use) if head is not None else ()
    direction = "maximize" if higher_is_better(metric, tasks) else "minimize"
    rdb = _storage(storage)
    with _optuna_warnings_only():
        study = optuna.create_study(study_name=study_name, storage=rdb, direction=direction,
                                    load_if_exists=True, sampler=optuna.samplers.TPESampler(seed=base.model.seed),
                                    pruner=optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=1))
    if study.user_attrs.get("cv", cv) != cv:
        raise FlexzooError(f"study {study.study_name!r} ran with --cv {study.user_attrs['cv']}, not {cv}: its trials' "
                           "values would not compare; give the same --cv, or another --study")
    if not study.trials:  # the manifest's own values first: the best trial is never worse than the manifest
        study.set_user_attr("cv", cv)
        resolved = base.to_dict()
        study.enqueue_trial({d.key: _current(resolved, d) for d in space}, skip_if_exists=True)
    reporter = _Reporter(metric, per_epoch=cv == 1)
    registry.manager.register(reporter, name=f"flexzoo-tune-{id(reporter)}")
    finished = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    units = Units(f"tune {study_name}", trials, "trials", display=display,
                  done=min(trials, len(study.get_trials(deepcopy=False, states=finished))))

    def run(candidate: dict[str, Any], run_dir: Path) -> float:
        manifest = validate(candidate, ManifestSource(file=source.file, lines={}), registry)
        return float(train(manifest, run_dir, registry).history[-1]["validation"][metric])

    def objective(trial: Any) -> float:
        candidate = copy.deepcopy(data)
        for dimension in space:
            _set(candidate, dimension.key, dimension.suggest(trial))
        reporter.trial = trial
        reporter.advance = units.begin(f"trial {trial.number}", int(candidate.get("train", {}).get(
            "epochs", base.train["epochs"])) * cv, "epochs")
        trial_dir = out / f"trial-{trial.number}"
        if cv == 1:
            value = run(candidate, trial_dir)
        else:
            values: list[float] = []
            for fold in range(cv):
                values.append(run(_with_fold(candidate, cv, fold), trial_dir / f"fold-{fold}"))
                trial.set_user_attr("fold_values", values)
                reporter.report(sum(values) / len(values), fold)
            value = sum(values) / cv
        (trial_dir / "manifest.toml").write_text(dump_toml(candidate))
        return value

    try:
        with units, _optuna_warnings_only():
            study.optimize(objective, n_trials=trials, callbacks=[
                optuna.study.MaxTrialsCallback(trials, states=finished),
                lambda study, trial: _trial_ended(units, study, trial, metric, trials)])
    finally:
        registry.manager.unregister(reporter)
    best = study.best_trial
    best_dir = out / f"trial-{best.number}"
    shutil.copyfile(best_dir / "manifest.toml", out / "best.toml")
    artifact = out / f"{base.model.name}.safetensors"
    if cv > 1:  # each fold's model saw (K-1)/K of the data: train the best manifest itself
        best_data, best_source = read_manifest(out / "best.toml")
        best_dir = out / "best"
        train(validate(best_data, best_source, registry), best_dir, registry)
    shutil.copyfile(best_dir / f"{base.model.name}.safetensors", artifact)
    return {"metric": metric, "direction": direction, "best_value": best.value, "best_params": best.params,
            "best_trial": best.number, "trials": len(study.trials), "best_manifest": str(out / "best.toml"),
            "artifact": str(artifact), "storage": storage, "cv": cv,
            "fold_values": best.user_attrs.get("fold_values", [])}


@contextlib.contextmanager
def _optuna_warnings_only() -> Iterator[None]:
    """Optuna's log kept to warnings in the block: the trials' own lines replace its INFO lines."""
    import optuna

    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(verbosity)


def _trial_ended(units: Units, study: Any, trial: Any, metric: str, trials: int) -> None:
    """One line for a finished trial: its value (or why it stopped) and the study's best so far."""
    import optuna

    count = len(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,
                                                         optuna.trial.TrialState.PRUNED)))
    if trial.state == optuna.trial.TrialState.COMPLETE:
        outcome = f"{metric} {trial.value:.4f}"
    else:
        outcome = trial.state.name.lower()
    try:
        best = f"best {study.best_value:.4f} (trial {study.best_trial.number})"
    except ValueError:  # no trial completed yet
        best = "no best yet"
    units.end(f"trial {trial.number} ({min(count, trials)} of {trials})  {outcome}  {best}", note=best)


def _with_fold(data: dict[str, Any], folds: int, fold: int) -> dict[str, Any]:
    """A copy of the manifest that validates on fold ``fold`` of ``folds`` (the folds replace validation_split)."""
    candidate = copy.deepcopy(data)
    table = candidate.setdefault("train", {})
    table.pop("validation_split", None)
    table.update(folds=folds, fold=fold)
    return candidate


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
    import warnings

    import optuna
    import sqlalchemy.exc

    for attempt in range(5):
        try:
            with warnings.catch_warnings():  # heartbeats are "experimental" in Optuna since 2.8; we rely on them
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                retry = optuna.storages.RetryHeartbeatStaleTrialCallback(1)  # a worker that died: its trial again
                return optuna.storages.RDBStorage(url, heartbeat_interval=5, grace_period=15,
                                                  heartbeat_stale_trial_callback=retry)
        except sqlalchemy.exc.SQLAlchemyError:
            if attempt == 4:
                raise
            time.sleep(0.5 + attempt)
    raise AssertionError("unreachable")
