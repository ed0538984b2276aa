"""The ``README.md`` a Hub repository of a flexzoo artifact shows: metadata that the Hub indexes, and a body.

Everything is read from the artifact's own record (resolved manifest, plugins, versions, model card,
training and compression records): the card states what the artifact holds and never guesses. The
metadata is huggingface_hub's ``ModelCardData`` (``library_name: flexzoo``, license, tags, datasets,
``base_model`` from the Hub references the model was built from, ``model-index`` with the metrics the
artifact records); the body is :mod:`flexzoo.hub.card_sections`. ``huggingface_hub`` is imported on use.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from flexzoo.hub.card_sections import body, evaluated_model, recorded_metrics
from flexzoo.hub.references import HubReference, is_hub_reference

if TYPE_CHECKING:
    from huggingface_hub import ModelCard, ModelCardData
    from huggingface_hub.repocard_data import EvalResult

__all__ = ["CardOptions", "RepositoryFile", "base_models", "card_data", "head_tasks", "hub_model_card"]

#: The metric names flexzoo records, as the Hub's metric types (others are kept as written).
METRIC_TYPES = {"macro_f1": "f1", "map50": "map@50", "r2": "r_squared"}


@dataclass(frozen=True)
class RepositoryFile:
    """A file of the repository folder: its path in the repository, size and sha256."""

    path: str
    size: int
    sha256: str


@dataclass(frozen=True)
class CardOptions:
    """What the artifact does not record and the person publishing it says: where, under which licence, tags."""

    repo_id: str
    license: str | None = None
    tags: tuple[str, ...] = ()
    datasets: tuple[str, ...] = ()
    files: tuple[RepositoryFile, ...] = field(default=())

    @property
    def reference(self) -> str:
        return f"hf-hub:{self.repo_id}"


def _hub_references(value: Any) -> list[str]:
    """Every ``hf-hub:`` reference in a record, and every ``repository`` a pretrained record names."""
    found: list[str] = []
    if isinstance(value, str) and is_hub_reference(value):
        with contextlib.suppress(ValueError):  # malformed: validation reports it where it is written
            found.append(HubReference.parse(value).repo_id)
    elif isinstance(value, dict):
        repository = value.get("repository")
        if isinstance(repository, str) and "/" in repository and " " not in repository:
            found.append(repository.removeprefix("hf-hub:").partition("@")[0])
        for item in value.values():
            found += _hub_references(item)
    elif isinstance(value, list):
        for item in value:
            found += _hub_references(item)
    return found


def base_models(info: dict[str, Any]) -> list[str]:
    """The Hub repositories the model was built from: pretrained weights, a ``from`` artifact (first seen first)."""
    found = _hub_references(info["manifest"]) + _hub_references(info.get("card", {})) + \
        _hub_references(info.get("extra", {}))
    return list(dict.fromkeys(found))


def _rank(shape: Any) -> int | None:
    return len(shape) if isinstance(shape, list) else None


def head_tasks(info: dict[str, Any]) -> dict[str, str]:
    """Each head's Hub task: detection, segmentation, classification or regression, on images or tables."""
    card, heads = info["card"], info["manifest"].get("heads", {})
    rank = _rank(card.get("input_shape"))
    image = rank == 3 or any(_rank(entry.get("shape")) == 3 for entry in (card.get("inputs") or {}).values())
    tasks = {}
    for name, head in card["heads"].items():
        output = head.get("output_shape")
        if head.get("kind") == "detection":
            tasks[name] = "object-detection"
        elif image and _rank(output) == 4:
            tasks[name] = "image-segmentation"
        elif head.get("labels") or "num_classes" in heads.get(name, {}):
            tasks[name] = "image-classification" if image else "tabular-classification"
        else:
            tasks[name] = "image-feature-extraction" if image and _rank(output) != 2 else "tabular-regression"
    return tasks


def evaluation_results(info: dict[str, Any]) -> list[EvalResult]:
    """The ``model-index`` entries: each recorded per-head metric of the published weights."""
    from huggingface_hub import EvalResult

    metrics, split = recorded_metrics(info)
    if not metrics:
        return []
    tasks = head_tasks(info)
    data = info["training"]["data"]
    results = []
    for (head, metric), value in metrics.items():
        results.append(EvalResult(
            task_type=tasks.get(head, "tabular-regression"),
            dataset_type=str(data["source"]), dataset_name=data["description"], dataset_split=split,
            metric_type=METRIC_TYPES.get(metric, metric), metric_name=f"{head} {metric}", metric_value=value,
            metric_config=evaluated_model(info)))
    return results


def card_data(info: dict[str, Any], options: CardOptions) -> ModelCardData:
    """The card's metadata (YAML front matter), as the Hub indexes it."""
    from huggingface_hub import ModelCardData

    tasks = set(head_tasks(info).values())
    plugins = sorted(name for name in info["plugins"] if name != "builtin")
    tags = list(dict.fromkeys(["flexzoo", "safetensors", *sorted(tasks), *plugins, *options.tags]))
    results = evaluation_results(info)
    bases = base_models(info)
    return ModelCardData(
        library_name="flexzoo", license=options.license or "other",
        license_name=None if options.license else "unstated",
        tags=tags, datasets=list(options.datasets) or None,
        base_model=(bases[0] if len(bases) == 1 else bases) or None,
        pipeline_tag=next(iter(tasks)) if len(tasks) == 1 else None,
        model_name=info["manifest"]["model"]["name"], eval_results=results or None,
        metrics=sorted({result.metric_type for result in results}) or None,
    )


def hub_model_card(info: dict[str, Any], weights_sha256: str, options: CardOptions) -> ModelCard:
    """The whole card: metadata and body, as huggingface_hub's ``ModelCard`` (``.save(path)`` writes it)."""
    from huggingface_hub import ModelCard

    data = card_data(info, options)
    text = body(info, weights_sha256, options.reference, options.license,
                [(file.path, file.size, file.sha256) for file in options.files], base_models(info))
    return ModelCard(f"---\n{data.to_yaml()}\n---\n\n{text}")
