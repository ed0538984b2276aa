"""The data source check: every sample as the host reads it, the listed ``targets``, and one epoch of training.

A source of up to :data:`EVERY_SAMPLE_UP_TO` samples is read whole; a larger one at a seeded choice of that
many and its first and last samples. Each sample is held to what training holds it to
(:mod:`flexzoo.training.sample_checks`): an input of the declared ``input_shape`` (or an image the host turns
into one), targets of the same names, shapes and kinds, finite values, classes among the source's ``labels``.
``targets``, when the source lists them, must be what the samples say. Then a small model trains for one
epoch on the source, as ``zoo train`` would: anything that breaks training breaks the check first.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from flexzoo.plugin.components import Component, RegisteredComponent
from flexzoo.plugin.protocols import DataSource
from flexzoo.testing.inputs import declared, example_arguments

__all__ = ["EVERY_SAMPLE_UP_TO", "check_dataset", "checked_indices"]

#: Sources up to this size are checked sample by sample; larger ones at a seeded choice of this many, and the ends.
EVERY_SAMPLE_UP_TO = 1000

TRAINED_MANIFEST = """
[model]
name = "kit-data"
input_shape = {shape}

[backbone]
use = "builtin:mlp"
widths = [8]

{heads}
[train]
data = "{data}"
epochs = 1
batch_size = 64
{losses}
"""


def checked_indices(count: int, seed: int = 0) -> list[int]:
    """Every index of a source of ``count`` samples, or a seeded choice of :data:`EVERY_SAMPLE_UP_TO` and both ends."""
    import numpy as np

    if count <= EVERY_SAMPLE_UP_TO:
        return list(range(count))
    chosen = np.random.default_rng(seed).choice(count, size=EVERY_SAMPLE_UP_TO, replace=False)
    return sorted({0, count - 1, *map(int, chosen)})


def _made(entry: RegisteredComponent, input_shape: Sequence[int], example: Mapping[str, Any] | None,
          location: str) -> Any:
    kwargs = example_arguments(entry, example)
    names = declared(entry)
    if "input_shape" in names:
        kwargs["input_shape"] = tuple(input_shape)
    if "location" in names:
        kwargs["location"] = location
    return entry.component.factory(**kwargs)


def _input_problem(value: Any, input_shape: Sequence[int]) -> str:
    import numpy as np

    from flexzoo.training.sample_checks import IMAGE_MODES

    if hasattr(value, "convert"):  # a PIL image: the host converts it to the input's channels and resizes it
        if len(input_shape) != 3 or input_shape[0] not in IMAGE_MODES:
            return f"an image input needs input_shape [1 or 3, height, width], and the kit's is {list(input_shape)}"
        try:
            value.convert(IMAGE_MODES[input_shape[0]])
        except Exception as exc:
            return f"its image (mode {value.mode}) cannot be converted to {IMAGE_MODES[input_shape[0]]}: {exc}"
        return ""
    try:
        array = np.asarray(value, dtype=np.float32)
    except Exception as exc:
        return f"its input is neither a PIL image nor an array of numbers ({type(exc).__name__}: {exc})"
    if array.size != int(np.prod(input_shape)):
        return f"an array input must hold input_shape {list(input_shape)}, got shape {list(array.shape)}"
    if not np.isfinite(array).all():
        return "its input holds NaN or infinite values"
    return ""


def _sample_problems(source: Any, input_shape: Sequence[int]) -> tuple[list[str], dict[str, list[Any]]]:
    """What is wrong with the checked samples (at most five said), and each target's values by checked index."""
    import numpy as np

    from flexzoo.training.sample_checks import target_problem, target_rules

    problems: list[str] = []
    rules = None
    labels = getattr(source, "labels", None) or {}
    seen: dict[str, list[Any]] = {}
    for index in checked_indices(len(source)):
        try:
            sample = source[index]
        except Exception as exc:
            problems.append(f"sample {index} cannot be read: {type(exc).__name__}: {exc}")
            continue
        if not (isinstance(sample, tuple) and len(sample) == 2 and isinstance(sample[1], Mapping)):
            problems.append(f"sample {index} must be (input, {{target: value}}), got {type(sample).__name__}")
            continue
        value, targets = sample
        if not targets:
            problems.append(f"sample {index} has no target")
            continue
        if rules is None:
            rules = target_rules({name: np.asarray(t)[None] for name, t in targets.items()})
            rules = {name: rule.with_classes(len(labels[name])) if name in labels else rule
                     for name, rule in rules.items()}
        problem = _input_problem(value, input_shape) or target_problem(targets, rules)
        if problem:
            problems.append(f"sample {index}: {problem}")
            continue
        for name, target in targets.items():
            seen.setdefault(name, []).append((index, np.asarray(target)))
    return problems, seen


def _listed_problems(source: Any, seen: dict[str, list[Any]]) -> list[str]:
    """Where the source's ``targets`` disagree with its samples'."""
    import numpy as np

    listed = getattr(source, "targets", None)
    if listed is None:
        return []
    problems = []
    for name, values in seen.items():
        if name not in listed:
            problems.append(f"`targets` has no `{name}`, which the samples have (it lists {', '.join(listed)})")
            continue
        column = np.asarray(listed[name])
        if len(column) != len(source):
            problems.append(f"`targets[{name!r}]` has {len(column)} entries for {len(source)} samples")
            continue
        wrong = [(index, value) for index, value in values if not np.array_equal(column[index], value)]
        if wrong:
            index, value = wrong[0]
            problems.append(f"`targets[{name!r}]` disagrees with the samples at {len(wrong)} index(es) (first: sample "
                            f"{index}: `targets` says {column[index].tolist()!r}, the sample {value.tolist()!r})")
    return problems


def _heads(seen: dict[str, list[Any]], labels: Mapping[str, Sequence[str]]) -> tuple[str, str]:
    """Head tables for the targets, and ``[train.heads]`` losses for the regression ones."""
    heads, losses = [], []
    for name, values in seen.items():
        arrays = [value for _, value in values]
        if arrays[0].dtype.kind == "f":
            heads.append(f'[heads.{name}]\nuse = "builtin:linear"\nnum_classes = {max(arrays[0].size, 1)}\n')
            losses.append(f'[train.heads.{name}]\nloss = "mse"\n')
        elif arrays[0].ndim == 0:
            classes = len(labels[name]) if name in labels else int(max(int(a) for a in arrays)) + 1
            heads.append(f'[heads.{name}]\nuse = "builtin:linear"\nnum_classes = {max(classes, 2)}\n')
    return "\n".join(heads), "\n".join(losses)


def _train_one_epoch(entry: RegisteredComponent, input_shape: Sequence[int], example: Mapping[str, Any] | None,
                     location: str, seen: dict[str, list[Any]], labels: Mapping[str, Sequence[str]]) -> None:
    import flexzoo.builtin
    from flexzoo.errors import FlexzooError
    from flexzoo.host.registry import Registry
    from flexzoo.manifest.validation import load_manifest
    from flexzoo.pipeline.stages import train
    from flexzoo.plugin import hookimpl
    from flexzoo.testing.tracking import _toml_value

    heads, losses = _heads(seen, labels)
    if not heads:
        return  # targets no builtin head trains on (masks, boxes): the samples were checked above
    plugin = SimpleNamespace(flexzoo_datasets=hookimpl(lambda: [Component(entry.name, entry.component.factory,
                                                                          entry.component.summary)]))
    registry = Registry.from_modules({"builtin": flexzoo.builtin, **({} if entry.plugin == "builtin" else
                                                                      {entry.plugin: plugin})})
    where = str(Path(location).resolve()) if location else ""
    settings = "".join(f"{key} = {_toml_value(value)}\n" for key, value in (example or {}).items())
    text = TRAINED_MANIFEST.format(shape=list(input_shape), heads=heads, data=f"{entry.qualified_name}:{where}",
                                   losses=losses) + (f"\n[train.source]\n{settings}" if settings else "")
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "kit.toml").write_text(text)
        try:
            result = train(load_manifest(Path(tmp) / "kit.toml", registry), Path(tmp) / "out", registry)
        except FlexzooError as exc:
            raise AssertionError(f"dataset {entry.qualified_name}: one epoch of `zoo train` on it fails: {exc}\n"
                                 f"(the manifest:\n{text})") from exc
    assert result.artifact is not None, f"dataset {entry.qualified_name}: training wrote no artifact"


def check_dataset(entry: RegisteredComponent, input_shape: Sequence[int] = (3, 8, 8),
                  example: Mapping[str, Any] | None = None, location: str = "", train: bool = True) -> None:
    """The source follows :class:`flexzoo.plugin.DataSource` at ``input_shape``, in every (checked) sample and in its
    ``targets``; ``labels`` (if any) name the classes; and a model trains one epoch on it (``train``).

    ``location`` is what follows ``name:`` in ``[train] data`` (``PluginConformance.locations``).
    """
    where = f"dataset {entry.qualified_name}"
    source = _made(entry, input_shape, example, location)
    assert isinstance(source, DataSource), f"{where} returned {type(source).__name__}; a dataset factory must " \
        "return a DataSource: `description`, `__len__` and `__getitem__(i) -> (input, targets)`"
    count = len(source)
    assert count > 0, f"{where}: the source has no samples"
    held_out = getattr(source, "held_out", None)
    assert held_out is None or 0 < held_out < count, f"{where}: held_out must leave samples on both sides"
    problems, seen = _sample_problems(source, input_shape)
    problems += _listed_problems(source, seen)
    if problems:
        shown = "\n  ".join(problems[:5]) + (f"\n  ... and {len(problems) - 5} more" if len(problems) > 5 else "")
        raise AssertionError(f"{where} at input_shape {list(input_shape)}:\n  {shown}")
    if train and count >= 2:
        _train_one_epoch(entry, input_shape, example, location, seen, getattr(source, "labels", None) or {})
