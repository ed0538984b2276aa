"""The ``[train]`` section: its keys, their types and defaults, and its validation (no torch here).

The validated section is a plain dict with every default filled in, except keys added after the first
release, which stay out unless given (:data:`STORED_WHEN_GIVEN`; ``folds`` and ``fold`` unless
``folds > 1``, and then ``validation_split`` does), so that an older manifest resolves, stores and
hashes as it did before they existed.
:class:`TrainConfig` is the typed view the loop reads. Keys are declared once, as
:class:`~flexzoo.manifest.sections.KeyTable` s :data:`TRAIN_KEYS`, :data:`HEAD_KEYS` and
:data:`EARLY_STOPPING_KEYS`; validation and docs come from them.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from annotated_types import Ge, Gt, Interval

from flexzoo.errors import Problem
from flexzoo.host.registry import did_you_mean
from flexzoo.manifest import schema
from flexzoo.manifest.sections import REQUIRED, Key, KeyTable, Report
from flexzoo.plugin.tasks import HeadTask
from flexzoo.tasks import BUILTIN_TASKS, GENERIC, describe_tasks, higher_is_better, losses, task_for

Optimizer = Literal["sgd", "adam", "adamw"]
Schedule = Literal["constant", "cosine", "step", "onecycle"]
Amp = Literal["none", "bf16", "fp16"]
Device = Literal["auto", "cpu", "cuda"]
OptimizerImpl = Literal["auto", "for_loop", "foreach", "fused"]
Mode = Literal["auto", "min", "max"]
BadSample = Literal["error", "skip"]
LoraStore = Literal["merged", "adapters"]
Resize = Literal["stretch", "keep_aspect"]
Interpolation = Literal["bilinear", "bicubic", "nearest"]
Normalize = Literal["auto", "pretrained", "data", "none"]
AutoAugment = Literal["none", "randaugment", "trivialaugment"]
AdversarialMethod = Literal["pgd", "fgsm"]

#: The builtin tasks' metrics that improve upwards (a head's own task says for its metrics).
HIGHER_IS_BETTER = {metric for task in BUILTIN_TASKS.values() for metric in task.metrics
                    if task.higher_is_better(metric)}
DATA_FORMS = ('data = "digits", "imagefolder:PATH", "PATH.npz", "PATH.safetensors", "PATH.csv", "NAME:LOCATION" or '
              '"PLUGIN:NAME:LOCATION"')
#: A file's suffix -> the builtin source that reads it, for ``data = "PATH"`` without a source name.
SOURCE_OF_SUFFIX = {".npz": "arrays", ".safetensors": "arrays", ".csv": "table", ".jsonl": "table"}


def data_source(data: str, datasets: Collection[str] | None = None) -> tuple[str, str]:
    """The data source's name and location in ``[train] data``: ``"NAME"``, ``"NAME:LOCATION"``, a file, or
    qualified, ``"PLUGIN:NAME"`` or ``"PLUGIN:NAME:LOCATION"`` (the name is then ``PLUGIN:NAME``).

    ``datasets``: the data sources' names, qualified ones among them (``Registry.names("dataset")``), which tell
    ``PLUGIN:NAME`` from ``NAME:LOCATION``; default: the installed plugins'.
    """
    for suffix, name in SOURCE_OF_SUFFIX.items():
        if data.endswith(suffix) and not data.partition(":")[0].isidentifier():
            return name, data
    name, _, location = data.partition(":")
    source, _, rest = location.partition(":")
    if source and f"{name}:{source}" in (_installed_datasets() if datasets is None else datasets):
        return f"{name}:{source}", rest
    return name, location


def _installed_datasets() -> set[str]:
    from flexzoo.host.registry import default_registry

    return default_registry().names("dataset")


def _fraction(value: float) -> str:
    return "" if 0 < value < 1 else f"`validation_split` must be between 0 and 1 (exclusive), got {value}"


def _data(value: str) -> str:
    name, _ = data_source(value, ())  # the leading name's form only: the registry checks the source itself
    if name in SOURCE_OF_SUFFIX.values() or name.replace("-", "_").isidentifier():
        return ""
    return f"`data` `{value}` is not a data source I know"


Positive = Annotated[int, Gt(0)]
PositiveFloat = Annotated[float, Gt(0)]
NonNegative = Annotated[int, Ge(0)]
NonNegativeFloat = Annotated[float, Ge(0)]
Beta = Annotated[float, Interval(ge=0, lt=1)]

TRAIN_KEYS = KeyTable(
    Key("data", str, REQUIRED, "digits, imagefolder:PATH, PATH.npz, PATH.safetensors, PATH.csv, or NAME:LOCATION "
        "for any data source (`zoo list datasets`), PLUGIN:NAME:LOCATION to name its plugin; relative paths are "
        "relative to the manifest", _data),
    Key("validation_split", float, 0.2, "fraction of the samples held out for validation (seeded split)",
        _fraction),
    Key("split_seed", NonNegative, 0, "seed of the train/validation split"),
    Key("folds", Positive, 1, "k-fold cross-validation: the samples in this many seeded folds, one of them "
        "held out for validation (1: validation_split holds out the validation samples)"),
    Key("fold", NonNegative, 0, "which fold is held out for validation when folds > 1 (0 to folds - 1)"),
    Key("bootstrap", NonNegative, None, "train on a bootstrap sample of the training split, drawn with this seed: "
        "as many samples as the split, with replacement (bagging sets it per member); validation is unchanged"),
    Key("inputs", str, "x", "name of the input array in a .npz or .safetensors file"),
    Key("workers", NonNegative, 0, "DataLoader worker processes per rank decoding samples (0: in the training "
        "process); data held in memory needs none"),
    Key("prefetch", Positive, 2, "batches each worker prepares ahead"),
    Key("on_bad_sample", BadSample, "error", "a sample that cannot be read (a corrupt image): error stops the "
        "run naming it; skip leaves it out, counted and warned about"),
    Key("epochs", Positive, 10, "passes over the training data"),
    Key("batch_size", Positive, 64, "global batch size (split across ranks)"),
    Key("optimizer", Optimizer, "adamw", "sgd, adam or adamw"),
    Key("lr", PositiveFloat, 1e-3, "learning rate (the peak rate for onecycle)"),
    Key("weight_decay", NonNegativeFloat, 0.0, "weight decay (decoupled for adamw)"),
    Key("momentum", NonNegativeFloat, 0.9, "momentum (sgd)"),
    Key("nesterov", bool, False, "Nesterov momentum (sgd)"),
    Key("betas", tuple[Beta, Beta], [0.9, 0.999], "Adam betas"),
    Key("schedule", Schedule, "constant", "learning-rate schedule: constant, cosine, step or onecycle"),
    Key("warmup_epochs", NonNegativeFloat, 0.0,
        "linear warm-up from 0, in epochs (fractions allowed); not with onecycle"),
    Key("step_size", Positive, 1, "epochs between decays (step schedule)"),
    Key("gamma", PositiveFloat, 0.1, "decay factor (step schedule)"),
    Key("min_lr", NonNegativeFloat, 0.0, "final learning rate (cosine schedule)"),
    Key("clip_grad_norm", NonNegativeFloat, 0.0, "clip the gradients' global norm to this value (0: off)"),
    Key("amp", Amp, "none", "mixed precision: bf16 (CPU or GPU) or fp16 (GPU)"),
    Key("device", Device, "auto", "cpu, cuda, or auto (cuda when there is one)"),
    Key("threads", NonNegative, 0, "torch threads per process (0: torch's default; 1 per rank when distributed)"),
    Key("compile", bool, False, "torch.compile the model for training and validation (the first steps compile "
        "it: worth it for runs longer than a minute)"),
    Key("channels_last", bool, False, "channels-last memory format for the model and its image batches "
        "(inputs of shape [channels, height, width]; faster convolutions on most CPUs and GPUs)"),
    Key("optimizer_impl", OptimizerImpl, "auto", "the optimizer's kernels: fused (one kernel for all "
        "parameters), foreach (batched), for_loop (one parameter at a time) or auto (torch's choice)"),
    Key("checkpoint_every", Positive, 1, "epochs between checkpoints (the last epoch, or an early stop, is always "
        "checkpointed); --resume continues from the latest one"),
    nested=("heads", "early_stopping", "preprocess", "augment", "source", "lora", "grow", "adversarial"),
)

Probability = Annotated[float, Interval(ge=0, le=1)]
Fraction = Annotated[float, Interval(gt=0, le=1)]

PREPROCESS_KEYS = KeyTable(
    Key("resize", Resize, "stretch", "stretch: to input_shape exactly; keep_aspect: the shorter side to fit, "
        "then a center crop"),
    Key("interpolation", Interpolation, "bilinear", "bilinear, bicubic or nearest"),
    Key("normalize", Normalize, "auto", "mean/std: auto (given mean/std, else the backbone's pretrained config, "
        "else computed from the training images), pretrained, data, or none (pixels in [0, 1])"),
    Key("mean", list[float], None, "per-channel mean (after scaling pixels to [0, 1])"),
    Key("std", list[PositiveFloat], None, "per-channel standard deviation"),
)

AUGMENT_KEYS = KeyTable(
    Key("hflip", Probability, 0.0, "probability of a horizontal flip"),
    Key("vflip", Probability, 0.0, "probability of a vertical flip"),
    Key("rotation", NonNegativeFloat, 0.0, "random rotation, up to this many degrees either way"),
    Key("crop_scale", tuple[Fraction, Fraction], None, "random-resized crop: [min, max] fraction of the area"),
    Key("color_jitter", NonNegativeFloat, 0.0, "brightness, contrast and saturation jitter"),
    Key("auto_augment", AutoAugment, "none", "none, randaugment or trivialaugment"),
    Key("mixup", NonNegativeFloat, 0.0, "mixup alpha (0: off); one classification head"),
    Key("cutmix", NonNegativeFloat, 0.0, "cutmix alpha (0: off); one classification head"),
)

HEAD_KEYS = KeyTable(
    Key("loss", str, "cross_entropy", "one of the losses of the head's tasks (default: its first task's first; "
        "cross_entropy for a head that declares none): cross_entropy (classification, per pixel for a "
        "segmentation head), mse, mae, smooth_l1 (regression), centernet (a detection head, on boxes [class, x1, "
        "y1, x2, y2]), or a plugin head's own (`zoo info HEAD`)"),
    Key("weight", NonNegativeFloat, 1.0, "weight of this head's loss in the total (0: not trained)"),
    Key("target", str, "", "name of the target in the data (default: the head's name)"),
    Key("metrics", list[str], None, "metrics of the head's task: accuracy, macro_f1, miou (classification, per "
        "pixel for a segmentation head; default accuracy and macro_f1); mse, mae (regression); map50, map "
        "(detection: mAP at IoU 0.5 and COCO's mAP at IoU 0.5 to 0.95); or a plugin task's own"),
)

def _targets(value: list[str]) -> str:
    return "" if value and all(value) else "`targets` must list at least one non-empty pattern"


LORA_KEYS = KeyTable(
    Key("rank", Positive, 8, "rank of each adapter's update (up: fan-out x rank, down: rank x fan-in)"),
    Key("alpha", PositiveFloat, 16.0, "scale of the update: the adapter adds alpha / rank * (up @ down)"),
    Key("targets", list[str], ["*"], "glob patterns over the backbone's module names (as `zoo inspect` shows "
        "them, without `backbone.`); every Linear and Conv layer they select gets an adapter", _targets,
        fix='for example targets = ["*"] (every Linear/Conv layer) or targets = ["stages.1.*"]'),
    Key("store", LoraStore, "merged", "what the artifact holds: merged (the adapters folded into the weights, a "
        "model that stands alone) or adapters (the adapters and the heads only, loaded onto the [backbone] from "
        "artifact, which must be found beside it with the same weights)"),
)

Factor = Annotated[float, Ge(1)]

GROW_KEYS = KeyTable(
    Key("at_epoch", Positive, REQUIRED, "grow after this epoch (from 1; before the last one)"),
    Key("widen", Factor, 1.0, "multiply every width of the backbone by this factor (rounded); 1: keep them"),
    Key("widths", list[Positive], None, "the backbone's new widths, one per current width, none smaller "
        "(instead of widen)"),
    Key("deepen", NonNegative, 0, "layers (mlp) or residual blocks per stage (cnn) to add, each starting as "
        "the identity"),
)

Budget = Annotated[float, Interval(gt=0, le=1)]

ADVERSARIAL_KEYS = KeyTable(
    Key("method", AdversarialMethod, "pgd", "pgd (Madry et al. 2018: steps of step_size from a random start) or fgsm "
        "(one step of epsilon)"),
    Key("epsilon", Budget, REQUIRED, "the L-infinity budget, in pixel values in [0, 1] (0.1: 10% of the range)"),
    Key("steps", Positive, 10, "PGD's iterations"),
    Key("step_size", PositiveFloat, None, "PGD's step, in pixel values (default 2.5 * epsilon / steps)"),
    Key("ratio", Fraction, 0.5, "the share of each batch replaced by its adversarial examples (1: all of it)"),
    Key("head", str, "", "the classification head whose loss the attack raises (default: the first trained one)"),
)

EARLY_STOPPING_KEYS = KeyTable(
    Key("metric", str, REQUIRED, 'validation metric to watch: "loss" or "<head>.<metric>"'),
    Key("patience", Positive, 3, "epochs without improvement before stopping"),
    Key("min_delta", NonNegativeFloat, 0.0, "smallest change that counts as an improvement"),
    Key("mode", Mode, "auto", "min, max, or auto (max for accuracy, macro_f1, miou, map50 and map, else min)"),
)


def _head(table: Any, head: str, tasks: tuple[HeadTask, ...], report: Report) -> dict[str, Any] | None:
    """Check one ``[train.heads.<head>]`` against the tasks its component declares; fill the task's defaults."""
    where = f"train.heads.{head}"
    resolved = HEAD_KEYS.check(table, where, report)
    if resolved is None:
        return None
    resolved["target"] = resolved["target"] or head
    if isinstance(table, dict) and "loss" not in table:
        resolved["loss"] = tasks[0].losses[0]
    task = task_for(tasks, resolved["loss"])
    if task is None:
        known = losses(tasks)
        report(Problem(f"{where}.loss", f"head `{head}` has no loss `{resolved['loss']}`; its losses: "
                       f"{describe_tasks(tasks)}", did_you_mean(resolved["loss"], known) or
                       f"use loss = {' or '.join(map(repr, known))}"))
        return None
    if resolved["metrics"] is None:
        resolved["metrics"] = list(task.defaults)
    wrong = [m for m in resolved["metrics"] if m not in task.metrics]
    if wrong:
        report(Problem(f"{where}.metrics", f"metric {', '.join(map(repr, wrong))} does not fit a {task.name} head "
                       f"(loss {resolved['loss']!r})", f"use {' or '.join(task.metrics)}"))
        return None
    return resolved


def task_of(loss: str, tasks: tuple[HeadTask, ...] = GENERIC) -> str:
    """The name of the task of ``tasks`` a head trained with ``loss`` has: for a head that declares none,
    ``classification``, ``detection`` (the ``centernet`` loss) or ``regression``."""
    task = task_for(tasks, loss)
    return task.name if task is not None else "regression"


def validate_train(table: dict[str, Any], heads: list[str], report: Report,
                   tasks: dict[str, tuple[HeadTask, ...]] | None = None) -> dict[str, Any] | None:
    """Check a ``[train]`` table against the model's head names; return it resolved, or None after reporting.

    ``tasks``: each head's declared tasks (default, and for a head left out: the generic ones).
    """
    tasks = tasks or {}
    before: list[int] = [0]

    def counting(problem: Problem) -> None:
        before[0] += 1
        report(problem)

    resolved = TRAIN_KEYS.check(table, "train", counting)
    preprocess = PREPROCESS_KEYS.check(table.get("preprocess", {}), "train.preprocess", counting)
    augment = AUGMENT_KEYS.check(table.get("augment", {}), "train.augment", counting)
    if preprocess and (preprocess["mean"] is None) != (preprocess["std"] is None):
        counting(Problem("train.preprocess", "give both `mean` and `std`, or neither", "add the missing one"))
    if resolved and resolved["schedule"] == "onecycle" and resolved["warmup_epochs"]:
        counting(Problem("train.warmup_epochs", "onecycle has its own warm-up; `warmup_epochs` would be ignored",
                         "remove warmup_epochs, or choose schedule = \"cosine\""))
    if resolved:
        _folds(table, resolved, counting)
    head_tables = table.get("heads", {})
    resolved_heads: dict[str, Any] = {}
    if not isinstance(head_tables, dict):
        counting(Problem("train.heads", f"`train.heads` must be a table, got {schema.describe(head_tables)}",
                         "write one [train.heads.<head>] table per head"))
        head_tables = {}
    for name in head_tables:
        if name not in heads:
            counting(Problem(f"train.heads.{name}", f"[train.heads.{name}] names no head of the model",
                             did_you_mean(name, heads) or f"the model's heads: {', '.join(heads)}"))
    for name in heads:
        head = _head(head_tables.get(name, {}), name, tasks.get(name) or GENERIC, counting)
        if head is not None:
            resolved_heads[name] = head
    if resolved_heads and len(resolved_heads) == len(heads) and not any(h["weight"] for h in resolved_heads.values()):
        counting(Problem("train.heads", "every head has weight 0: nothing would be trained",
                         "give a head a weight > 0"))
    early = _early_stopping(table.get("early_stopping"), resolved_heads, tasks, counting)
    lora = LORA_KEYS.check(table["lora"], "train.lora", counting) if "lora" in table else None
    grow = _grow(table["grow"], resolved, lora is not None, counting) if "grow" in table else None
    adversarial = _adversarial(table["adversarial"], resolved_heads, tasks, augment, counting) \
        if "adversarial" in table else None
    if before[0] or resolved is None:
        return None
    resolved["heads"] = resolved_heads
    _data_keys(table, resolved, preprocess, augment)
    if early is not None:
        resolved["early_stopping"] = early
    if lora is not None:
        resolved["lora"] = lora
    if grow is not None:
        resolved["grow"] = grow
    if adversarial is not None:
        resolved["adversarial"] = adversarial
    return resolved


def _adversarial(table: Any, heads: dict[str, Any], tasks: dict[str, tuple[HeadTask, ...]],
                 augment: dict[str, Any] | None, report: Report) -> dict[str, Any] | None:
    """Check ``[train.adversarial]`` and fill in its head and PGD step (stored explicitly in the artifact)."""
    where = "train.adversarial"
    resolved = ADVERSARIAL_KEYS.check(table, where, report)
    if resolved is None:
        return None
    if resolved["method"] == "fgsm":
        given = [key for key in ("steps", "step_size") if key in table]
        if given:
            report(Problem(f"{where}.{given[0]}", f"fgsm takes one step of epsilon; `{given[0]}` is PGD's",
                           f'remove {" and ".join(given)}, or choose method = "pgd"'))
            return None
        resolved.update(steps=1, step_size=resolved["epsilon"])
    elif resolved["step_size"] is None:
        resolved["step_size"] = 2.5 * resolved["epsilon"] / resolved["steps"]
    classifying = [name for name, head in heads.items()
                   if task_of(head["loss"], tasks.get(name) or GENERIC) == "classification" and head["weight"]]
    if resolved["head"]:
        if resolved["head"] not in heads:
            report(Problem(f"{where}.head", f"`head = {resolved['head']!r}` names no head of the model",
                           did_you_mean(resolved["head"], list(heads)) or f"the model's heads: {', '.join(heads)}"))
            return None
        if resolved["head"] not in classifying:
            report(Problem(f"{where}.head", f"head `{resolved['head']}` is not a trained classification head: the "
                           "attack raises a cross-entropy loss", f"choose one of {', '.join(classifying) or 'none'}"))
            return None
    elif heads:
        if not classifying:
            report(Problem(where, "adversarial training attacks a classification head's cross-entropy, and no "
                           "trained head is one", "remove [train.adversarial], or train a classification head"))
            return None
        resolved["head"] = classifying[0]
    if augment and (augment["mixup"] or augment["cutmix"]):
        report(Problem(where, "adversarial examples are made against each sample's own label, and mixup/cutmix mix "
                       "the labels", "turn mixup and cutmix off, or remove [train.adversarial]"))
        return None
    return resolved


def _grow(steps: Any, train: dict[str, Any] | None, lora: bool, report: Report) -> list[dict[str, Any]] | None:
    """Check the ``[[train.grow]]`` steps: each changes something, in epoch order, before the last epoch."""
    if not isinstance(steps, list):
        report(Problem("train.grow", f"`train.grow` must be an array of tables, got {schema.describe(steps)}",
                       "write each growth step as [[train.grow]] (two brackets)"))
        return None
    if lora:
        report(Problem("train.grow", "[[train.grow]] and [train.lora] do not mix: LoRA freezes the backbone that "
                       "growth would widen", "remove one of them"))
        return None
    resolved, last = [], 0
    for index, step in enumerate(steps):
        where = f"train.grow[{index}]"
        checked = GROW_KEYS.check(step, where, report)
        if checked is None:
            continue
        if step.get("widths") is not None and "widen" in step:
            report(Problem(where, "`widen` and `widths` both set the new widths", "keep one of them"))
        elif checked["widen"] == 1.0 and checked["widths"] is None and not checked["deepen"]:
            report(Problem(where, "this growth step changes nothing", "give widen > 1, widths = [...] or deepen"))
        epoch = checked["at_epoch"]
        if epoch <= last:
            report(Problem(f"{where}.at_epoch", f"`at_epoch = {epoch}` does not come after the previous step's "
                           f"({last})", "list the steps in the order they run, at most one per epoch"))
        if train is not None and epoch >= train["epochs"]:
            report(Problem(f"{where}.at_epoch", f"`at_epoch = {epoch}` leaves no epoch to train the grown model "
                           f"(epochs = {train['epochs']})", f"grow at an epoch before {train['epochs']}"))
        last = max(last, epoch)
        if checked["widths"] is None:
            del checked["widths"]  # a stored manifest is TOML: no null
        resolved.append(checked)
    return resolved


def _folds(table: dict[str, Any], resolved: dict[str, Any], report: Report) -> None:
    """Check the fold keys against each other; leave them out of ``resolved`` when there is no cross-validation."""
    folds, fold = resolved["folds"], resolved["fold"]
    if folds == 1:
        if fold:
            report(Problem("train.fold", f"`fold = {fold}` needs cross-validation, but folds = 1",
                           "set folds = K (K >= 2) or remove fold"))
        del resolved["folds"], resolved["fold"]
        return
    if fold >= folds:
        report(Problem("train.fold", f"`fold = {fold}` is not one of the {folds} folds",
                       f"choose fold = 0 to {folds - 1}"))
    if "validation_split" in table:
        report(Problem("train.validation_split", "`validation_split` and `folds` both choose the validation "
                       "samples", "remove validation_split (with folds = K each fold holds out 1/K)"))
    del resolved["validation_split"]


#: ``[train]`` keys that stay out of a resolved section that does not give them (their defaults apply), so
#: that a manifest written before they existed resolves, stores and hashes (checkpoint fingerprints) as it
#: did: the data pipeline's and the speed options. Given, they are stored, so the artifact records them.
STORED_WHEN_GIVEN = ("workers", "prefetch", "on_bad_sample", "compile", "channels_last", "optimizer_impl",
                     "checkpoint_every", "bootstrap")


def _data_keys(table: dict[str, Any], resolved: dict[str, Any], preprocess: dict[str, Any] | None,
               augment: dict[str, Any] | None) -> None:
    """Keep the optional keys and tables only where the manifest gives them (defaults fill the rest)."""
    for name in STORED_WHEN_GIVEN:
        if name not in table:
            del resolved[name]
    for name, checked in (("preprocess", preprocess), ("augment", augment)):
        if name in table and checked is not None:  # unset keys (None) stay out: a stored manifest is TOML
            resolved[name] = {key: value for key, value in checked.items() if value is not None}


def _early_stopping(table: Any, heads: dict[str, Any], tasks: dict[str, tuple[HeadTask, ...]], report: Report
                    ) -> dict[str, Any] | None:
    if table is None:
        return None
    where = "train.early_stopping"
    resolved = EARLY_STOPPING_KEYS.check(table, where, report)
    if resolved is None:
        return None
    known = ["loss"] + [f"{head}.{metric}" for head, spec in heads.items() for metric in ["loss", *spec["metrics"]]]
    if heads and resolved["metric"] not in known:
        report(Problem(f"{where}.metric", f"unknown validation metric `{resolved['metric']}`",
                       did_you_mean(resolved["metric"], known) or f"choose one of {', '.join(known)}"))
        return None
    if resolved["mode"] == "auto":
        head = resolved["metric"].partition(".")[0]
        resolved["mode"] = "max" if higher_is_better(resolved["metric"], tasks.get(head, ())) else "min"
    return resolved


@dataclass(frozen=True)
class HeadObjective:
    """How one head is trained and measured; ``declared``: the tasks its component declares (default: generic)."""

    name: str
    loss: str
    weight: float
    target: str
    metrics: tuple[str, ...]
    declared: tuple[HeadTask, ...] = field(default=GENERIC, compare=False, repr=False)

    @property
    def head_task(self) -> HeadTask:
        """The task the head trains for: the one of its declared tasks its loss belongs to."""
        task = task_for(self.declared, self.loss)
        assert task is not None, f"validation lets no head train with a loss none of its tasks has ({self.loss})"
        return task

    @property
    def task(self) -> str:
        """The task's name (a segmentation head, trained with cross_entropy, counts as ``classification``)."""
        return task_of(self.loss) if self.loss in losses(GENERIC) else self.head_task.name


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
class LoraSettings:
    """The typed view of ``[train.lora]``: adapters on the frozen backbone (:mod:`flexzoo.features.lora.training`)."""

    rank: int
    alpha: float
    targets: tuple[str, ...]
    store: str = "merged"

    @property
    def scale(self) -> float:
        return self.alpha / self.rank


@dataclass(frozen=True)
class GrowStep:
    """One ``[[train.grow]]`` step: after epoch ``at_epoch``, widen and/or deepen the backbone."""

    at_epoch: int
    widen: float
    widths: tuple[int, ...] | None
    deepen: int


@dataclass(frozen=True)
class AdversarialSettings:
    """The typed view of ``[train.adversarial]`` (:mod:`flexzoo.training.adversarial`), every value resolved."""

    method: str
    epsilon: float
    steps: int
    step_size: float
    ratio: float
    head: str


@dataclass(frozen=True)
class TrainConfig:
    """The typed view of a validated ``[train]`` section."""

    data: str
    validation_split: float
    split_seed: int
    folds: int
    fold: int
    bootstrap: int | None
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
    compile: bool
    channels_last: bool
    optimizer_impl: str
    checkpoint_every: int
    workers: int
    prefetch: int
    on_bad_sample: str
    heads: tuple[HeadObjective, ...]
    early_stopping: EarlyStopping | None
    lora: LoraSettings | None = None
    grow: tuple[GrowStep, ...] = ()
    adversarial: AdversarialSettings | None = None
    preprocess: dict[str, Any] = field(default_factory=dict)
    augment: dict[str, Any] = field(default_factory=dict)
    source: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, section: dict[str, Any], tasks: dict[str, tuple[HeadTask, ...]] | None = None
                  ) -> TrainConfig:
        """The typed view of a validated section; ``tasks``: each head's declared tasks (default: generic)."""
        # a key added since the section was resolved (compile, channels_last...) takes its default
        plain = {name: section[name] if name in section or key.required else key.default
                 for name, key in TRAIN_KEYS.items()}
        plain["betas"] = tuple(plain["betas"])
        heads = tuple(HeadObjective(name=name, loss=h["loss"], weight=h["weight"], target=h["target"],
                                    metrics=tuple(h["metrics"]), declared=(tasks or {}).get(name) or GENERIC)
                      for name, h in section["heads"].items())
        early, lora = section.get("early_stopping"), section.get("lora")
        return cls(**plain, heads=heads, early_stopping=EarlyStopping(**early) if early else None,
                   lora=LoraSettings(lora["rank"], lora["alpha"], tuple(lora["targets"]),
                                     lora.get("store", "merged")) if lora else None,
                   grow=tuple(GrowStep(step["at_epoch"], step["widen"],
                                       tuple(step["widths"]) if step.get("widths") else None, step["deepen"])
                              for step in section.get("grow", [])),
                   adversarial=AdversarialSettings(**section["adversarial"]) if section.get("adversarial") else None,
                   preprocess={**(PREPROCESS_KEYS.check({}, "", _ignore) or {}), **section.get("preprocess", {})},
                   augment={**(AUGMENT_KEYS.check({}, "", _ignore) or {}), **section.get("augment", {})},
                   source=section.get("source") or {"use": data_source(section["data"], ())[0]})

    @property
    def higher_is_better(self) -> set[str]:
        """The validation metrics (bare names) that improve upwards: the builtin tasks' and the heads' own."""
        return HIGHER_IS_BETTER | {metric for head in self.heads for metric in head.head_task.metrics
                                   if head.head_task.higher_is_better(metric)}

    @property
    def augmented(self) -> bool:
        """Whether any ``[train.augment]`` transform is on."""
        return any(value not in (0.0, None, "none") for value in self.augment.values())


def _ignore(problem: Problem) -> None:
    pass
