"""A run's ``[train]`` data: the source its manifest names, the data loaded from it, and what the artifact
records of it (the data card, the reference profile drift monitoring compares served requests with).

The data pipeline and the profile are imported when a run has data: a build without ``[train]`` does not load them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from flexzoo.errors import DataError, FlexzooError
from flexzoo.inputs.dtypes import input_dtype
from flexzoo.manifest import schema
from flexzoo.manifest.ensemble import member_labels
from flexzoo.manifest.train import data_source as parse_data
from flexzoo.plugin.components import RegisteredComponent, host_arguments

if TYPE_CHECKING:
    from torch import nn

    from flexzoo.pipeline.run import Run
    from flexzoo.training.data import Dataset

__all__ = ["data_card", "data_component", "data_source", "load_data", "profile"]


def load_data(run: Run, pretrained: Callable[[], dict[str, Any] | None]) -> Dataset:
    """The ``[train]`` data with its seeded split; ``pretrained`` gives the mean and std the backbone's
    pretrained weights expect (asked for only when ``normalize`` may take them)."""
    from flexzoo.training.data import load_dataset

    assert run.train is not None
    shapes = run.manifest.input_shapes() or run.manifest.model.input_shape
    return load_dataset(run.train, data_source(run), shapes, seed=run.seed, origin=data_component(run).qualified_name,
                        pretrained=pretrained)


def data_component(run: Run) -> RegisteredComponent:
    """The ``flexzoo_datasets`` component ``[train] data`` names."""
    assert run.train is not None
    return run.registry.resolve("dataset", _source_spec(run).get("use")
                                or parse_data(run.train.data, run.registry.names("dataset"))[0])


def _source_spec(run: Run) -> dict[str, Any]:
    """``[train.source]`` as the manifest gives it (empty without one)."""
    return dict((run.manifest.train or {}).get("source") or {})


def data_source(run: Run) -> Any:
    """Call the ``[train] data`` source's factory (a ``flexzoo_datasets`` component) with its parameters."""
    config, manifest = run.train, run.manifest
    assert config is not None
    spec = _source_spec(run)
    spec.pop("use", None)
    found = data_component(run)
    factory = found.component.factory
    accepted = {p.name for p in schema.parameters(factory)}
    if "inputs" in accepted:
        spec.setdefault("inputs", config.inputs)
        if manifest.inputs:  # a model of several inputs reads one array per input, by name
            spec["inputs"] = list(manifest.inputs)
    _, location = parse_data(config.data, run.registry.names("dataset"))
    if location and (base := manifest.base_dir()) is not None:
        location = str(base / Path(location).expanduser())
    spec.update(host_arguments("dataset", accepted, {"location": lambda: location,
                                                     "input_shape": lambda: manifest.model.input_shape}))
    try:
        return factory(**spec)
    except FlexzooError:
        raise
    except Exception as exc:
        raise DataError(f"data source `{found.qualified_name}` could not read `{config.data}`: "
                        f"{type(exc).__name__}: {exc}") from exc


def data_card(run: Run, data: Dataset | None) -> dict[str, Any] | None:
    """What the artifact records of the data: preprocessing and class names per target (once loaded).

    An ensemble built without data takes the class names its members agree on, for every head.
    """
    if data is not None:
        return {"preprocessing": data.preprocessing(), "labels": data.labels}
    manifest = run.manifest
    labels = member_labels(manifest.ensemble, manifest.file) if manifest.ensemble is not None else None
    return {"labels": {head: labels for head in manifest.heads}} if labels else None


def profile(run: Run, data: Dataset | None, model: nn.Module) -> dict[str, Any] | None:
    """The reference profile drift monitoring compares served requests with (:mod:`flexzoo.monitoring`): the
    model on a seeded choice of at most PROFILE_SAMPLES validation samples (training ones without a split).

    None when no data was loaded, for a model of several inputs and for a streamed source (read only once).
    """
    if data is None or run.manifest.inputs or data.streamed or data.input_shape is None:
        return None
    from flexzoo.monitoring.profile import PROFILE_SAMPLES, reference_profile

    index = data.validation_index if len(data.validation_index) else data.train_index
    if len(index) > PROFILE_SAMPLES:
        chosen = torch.randperm(len(index), generator=torch.Generator().manual_seed(run.seed))
        index = index[chosen[:PROFILE_SAMPLES].sort().values]
    if not len(index):
        return None
    inputs, _ = data.batch(index)
    heads = {name: dict(spec.params) for name, spec in run.manifest.heads.items()}
    was_training = model.training
    model.eval()
    try:
        measured = reference_profile(model, inputs.to(input_dtype(model)), heads, seed=run.seed)
    finally:
        model.train(was_training)
    return measured.as_dict()
