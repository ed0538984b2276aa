"""The ``[train]`` section: its keys, their types and defaults, and its validation (no torch here).

The validated section is a plain dict with every default filled in; :class:`TrainConfig` is the
typed view the loop reads. Keys are declared once, in :data:`TRAIN_KEYS`, :data:`HEAD_KEYS` and
:data:`EARLY_STOPPING_KEYS`; validation and ``zoo info``-style docs both come from them.
"""

from __future__ import annotations

import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from flexzoo import schema
from flexzoo.registry import did_you_mean

Optimizer = Literal["sgd", "adam", "adamw"]
Schedule = Literal["constant", "cosine", "step", "onecycle"]
Amp = Literal["none", "bf16", "fp16"]
Device = Literal["auto", "cpu", "cuda"]
Loss = Literal["cross_entropy", "mse", "mae", "smooth_l1"]
Metric = Literal["accuracy", "macro_f1", "mse", "mae"]
Mode = Literal["auto", "min", "max"]

CLASSIFICATION_LOSSES = ("cross_entropy",)
DEFAULT_METRICS: dict[str, list[str]] = {
    "cross_entropy": ["accuracy", "macro_f1"], "mse": ["mse", "mae"], "mae": ["mse", "mae"],
    "smooth_l1": ["mse", "mae"],
}
METRICS_OF_TASK = {"classification": ("accuracy", "macro_f1"), "regression": ("mse", "mae")}
HIGHER_IS_BETTER = {"accuracy", "macro_f1"}
DATA_FORMS = 'data = "digits", "imagefolder:PATH", "PATH.npz" or "PATH.safetensors"'


@dataclass(frozen=True)
class Key:
    """One key of a section: its type, its default (``schema.REQUIRED`` when it has none), what it means."""

    annotation: Any
    default: Any
    doc: str
    check: Callable[[Any], str] | None = None  # returns what is wrong with a well-typed value, or ""


def _positive(value: float) -> str:
    return "" if value > 0 else f"must be positive, got {value}"


def _non_negative(value: float) -> str:
    return "" if value >= 0 else f"must be zero or more, got {value}"


def _fraction(value: float) -> str:
    return "" if 0 < value < 1 else f"must be between 0 and 1 (exclusive), got {value}"


def _betas(value: list[float]) -> str:
    return "" if all(0 <= b < 1 for b in value) else f"each beta must be in [0, 1), got {value}"


def _data(value: str) -> str:
    if value == "digits" or value.endswith((".npz", ".safetensors")):
        return ""
    if value.startswith("imagefolder:") and len(value) > len("imagefolder:"):
        return ""
    return f"`{value}` is not a data source I know"


TRAIN_KEYS: dict[str, Key] = {
    "data": Key(str, schema.REQUIRED, "digits, imagefolder:PATH, PATH.npz or PATH.safetensors "
                "(relative paths are relative to the manifest)", _data),
    "validation_split": Key(float, 0.2, "fraction of the samples held out for validation (seeded split)",
                            _fraction),
    "split_seed": Key(int, 0, "seed of the train/validation split", _non_negative),
    "inputs": Key(str, "x", "name of the input array in a .npz or .safetensors file"),
    "epochs": Key(int, 10, "passes over the training data", _positive),
    "batch_size": Key(int, 64, "global batch size (split across ranks)", _positive),
    "optimizer": Key(Optimizer, "adamw", "sgd, adam or adamw"),
    "lr": Key(float, 1e-3, "learning rate (the peak rate for onecycle)", _positive),
    "weight_decay": Key(float, 0.0, "weight decay (decoupled for adamw)", _non_negative),
    "momentum": Key(float, 0.9, "momentum (sgd)", _non_negative),
    "nesterov": Key(bool, False, "Nesterov momentum (sgd)"),
    "betas": Key(tuple[float, float], [0.9, 0.999], "Adam betas", _betas),
    "schedule": Key(Schedule, "constant", "learning-rate schedule: constant, cosine, step or onecycle"),
    "warmup_epochs": Key(float, 0.0, "linear warm-up from 0, in epochs (fractions allowed); not with onecycle",
                         _non_negative),
    "step_size": Key(int, 1, "epochs between decays (step schedule)", _positive),
    "gamma": Key(float, 0.1, "decay factor (step schedule)", _positive),
    "min_lr": Key(float, 0.0, "final learning rate (cosine schedule)", _non_negative),
    "clip_grad_norm": Key(float, 0.0, "clip the gradients' global norm to this value (0: off)", _non_negative),
    "amp": Key(Amp, "none", "mixed precision: bf16 (CPU or GPU) or fp16 (GPU)"),
    "device": Key(Device, "auto", "cpu, cuda, or auto (cuda when there is one)"),
    "threads": Key(int, 0, "torch threads per process (0: torch's default; 1 per rank when distributed)",
                   _non_negative),
}

HEAD_KEYS: dict[str, Key] = {
    "loss": Key(Loss, "cross_entropy", "cross_entropy (classification) or mse, mae, smooth_l1 (regression)"),
    "weight": Key(float, 1.0, "weight of this head's loss in the total (0: not trained)", _non_negative),
    "target": Key(str, "", "name of the target in the data (default: the head's name)"),
    "metrics": Key(list[Metric], None, "accuracy, macro_f1 (classification); mse, mae (regression)"),
}

EARLY_STOPPING_KEYS: dict[str, Key] = {
    "metric": Key(str, schema.REQUIRED, 'validation metric to watch: "loss" or "<head>.<metric>"'),
    "patience": Key(int, 3, "epochs without improvement before stopping", _positive),
    "min_delta": Key(float, 0.0, "smallest change that counts as an improvement", _non_negative),
    "mode": Key(Mode, "auto", "min, max, or auto (max for accuracy and macro_f1, else min)"),
}

Report = Callable[[str, str, str], None]


def _check_keys(table: Any, keys: dict[str, Key], where: str, report: Report,
                nested: tuple[str, ...] = ()) -> dict[str, Any] | None:
    """Type- and range-check the table ``table`` against ``keys``; return it with defaults filled, or None."""
    if not isinstance(table, dict):
        report(where, f"`{where}` must be a table, got {schema.describe(table)}", f"write it as [{where}]")
        return None
    resolved: dict[str, Any] = {}
    ok = True
    for name, value in table.items():
        if name in nested:
            continue
        key = keys.get(name)
        if key is None:
            report(f"{where}.{name}", f"unknown key `{name}` in [{where}]",
                   did_you_mean(name, [*keys, *nested]) or f"allowed keys: {', '.join([*keys, *nested])}")
            ok = False
            continue
        if not schema.matches(value, key.annotation):
            choices = _choices(key.annotation)
            hint = (did_you_mean(value, choices) if isinstance(value, str) and choices else "") or (
                f"{name}: {key.doc}")
            expected = schema.type_text(key.annotation)
            report(f"{where}.{name}", f"`{name}` expects {expected}, got {schema.describe(value)}", hint)
            ok = False
            continue
        problem = key.check(value) if key.check else ""
        if problem:
            report(f"{where}.{name}", f"`{name}` {problem}", f"{name}: {key.doc}")
            ok = False
            continue
        resolved[name] = float(value) if key.annotation is float else value
    for name, key in keys.items():
        if name in resolved or name in table:
            continue
        if key.default is schema.REQUIRED:
            report(where, f"missing `{name}` in [{where}]", f"add {name} = ...: {key.doc}")
            ok = False
        else:
            resolved[name] = schema.to_toml(key.default)
    return resolved if ok else None


def _choices(annotation: Any) -> list[str]:
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) is list and args:
        return _choices(args[0])
    return [a for a in args if isinstance(a, str)] if typing.get_origin(annotation) is Literal else []


def _head(table: Any, head: str, report: Report) -> dict[str, Any] | None:
    where = f"train.heads.{head}"
    resolved = _check_keys(table, HEAD_KEYS, where, report)
    if resolved is None:
        return None
    resolved["target"] = resolved["target"] or head
    task = task_of(resolved["loss"])
    if resolved["metrics"] is None:
        resolved["metrics"] = list(METRICS_OF_TASK[task])
    wrong = [m for m in resolved["metrics"] if m not in METRICS_OF_TASK[task]]
    if wrong:
        report(f"{where}.metrics", f"metric {', '.join(map(repr, wrong))} does not fit a {task} head "
               f"(loss {resolved['loss']!r})", f"use {' or '.join(METRICS_OF_TASK[task])}")
        return None
    return resolved


def task_of(loss: str) -> str:
    """``classification`` or ``regression``, from a head's loss."""
    return "classification" if loss in CLASSIFICATION_LOSSES else "regression"


def validate_train(table: dict[str, Any], heads: list[str], report: Report) -> dict[str, Any] | None:
    """Check a ``[train]`` table against the model's head names; return it resolved, or None after reporting."""
    before: list[int] = [0]

    def counting(key: str, message: str, hint: str = "") -> None:
        before[0] += 1
        report(key, message, hint)

    resolved = _check_keys(table, TRAIN_KEYS, "train", counting, nested=("heads", "early_stopping"))
    if resolved and resolved["schedule"] == "onecycle" and resolved["warmup_epochs"]:
        counting("train.warmup_epochs", "onecycle has its own warm-up; `warmup_epochs` would be ignored",
                 "remove warmup_epochs, or choose schedule = \"cosine\"")
    head_tables = table.get("heads", {})
    resolved_heads: dict[str, Any] = {}
    if not isinstance(head_tables, dict):
        counting("train.heads", f"`train.heads` must be a table, got {schema.describe(head_tables)}",
                 "write one [train.heads.<head>] table per head")
        head_tables = {}
    for name in head_tables:
        if name not in heads:
            counting(f"train.heads.{name}", f"[train.heads.{name}] names no head of the model",
                     did_you_mean(name, heads) or f"the model's heads: {', '.join(heads)}")
    for name in heads:
        head = _head(head_tables.get(name, {}), name, counting)
        if head is not None:
            resolved_heads[name] = head
    if resolved_heads and len(resolved_heads) == len(heads) and not any(h["weight"] for h in resolved_heads.values()):
        counting("train.heads", "every head has weight 0: nothing would be trained", "give a head a weight > 0")
    early = _early_stopping(table.get("early_stopping"), resolved_heads, counting)
    if before[0] or resolved is None:
        return None
    resolved["heads"] = resolved_heads
    if early is not None:
        resolved["early_stopping"] = early
    return resolved


def _early_stopping(table: Any, heads: dict[str, Any], report: Report) -> dict[str, Any] | None:
    if table is None:
        return None
    where = "train.early_stopping"
    resolved = _check_keys(table, EARLY_STOPPING_KEYS, where, report)
    if resolved is None:
        return None
    known = ["loss"] + [f"{head}.{metric}" for head, spec in heads.items() for metric in ["loss", *spec["metrics"]]]
    if heads and resolved["metric"] not in known:
        report(f"{where}.metric", f"unknown validation metric `{resolved['metric']}`",
               did_you_mean(resolved["metric"], known) or f"choose one of {', '.join(known)}")
        return None
    if resolved["mode"] == "auto":
        resolved["mode"] = "max" if resolved["metric"].rpartition(".")[2] in HIGHER_IS_BETTER else "min"
    return resolved


@dataclass(frozen=True)
class HeadObjective:
    """How one head is trained and measured."""

    name: str
    loss: str
    weight: float
    target: str
    metrics: tuple[str, ...]

    @property
    def task(self) -> str:
        return task_of(self.loss)


@dataclass(frozen=True)
class EarlyStopping:
    metric: str
    patience: int
    min_delta: float
    mode: str

    def improved(self, value: float, best: float | None) -> bool:
        """Whether ``value`` beats ``best`` by more than ``min_delta``."""
        if best is None:
            return True
        return value > best + self.min_delta if self.mode == "max" else value < best - self.min_delta


@dataclass(frozen=True)
class TrainConfig:
    """The typed view of a validated ``[train]`` section."""

    data: str
    validation_split: float
    split_seed: int
    inputs: str
    epochs: int
    batch_size: int
    optimizer: str
    lr: float
    weight_decay: float
    momentum: float
    nesterov: bool
    betas: tuple[float, float]
    schedule: str
    warmup_epochs: float
    step_size: int
    gamma: float
    min_lr: float
    clip_grad_norm: float
    amp: str
    device: str
    threads: int
    heads: tuple[HeadObjective, ...]
    early_stopping: EarlyStopping | None

    @classmethod
    def from_dict(cls, section: dict[str, Any]) -> TrainConfig:
        plain = {name: section[name] for name in TRAIN_KEYS}
        plain["betas"] = tuple(plain["betas"])
        heads = tuple(HeadObjective(name=name, loss=h["loss"], weight=h["weight"], target=h["target"],
                                    metrics=tuple(h["metrics"])) for name, h in section["heads"].items())
        early = section.get("early_stopping")
        return cls(**plain, heads=heads, early_stopping=EarlyStopping(**early) if early else None)
