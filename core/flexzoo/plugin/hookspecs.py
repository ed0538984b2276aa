"""The whole extension surface of flexzoo: hook markers and hook specifications.

A plugin is a module (named by an entry point in the ``flexzoo`` group) holding functions marked
with :data:`hookimpl`. Registration hooks return :class:`flexzoo.Component` declarations; they run
when the host builds its registry, so they must stay cheap: no torch import at module level, no
model construction. Factories import their heavy dependencies when they are called.

Lifecycle hooks run during ``zoo build`` and ``zoo train`` and receive the real objects.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pluggy

from flexzoo.plugin.kinds import COMPONENT_KINDS, ComponentKind

if TYPE_CHECKING:
    import torch.nn as nn

    from flexzoo.hub.sources import PretrainedSource
    from flexzoo.manifest.resolved import ResolvedManifest
    from flexzoo.plugin.components import Component
    from flexzoo.plugin.tracking import RunInfo

__all__ = [
    "PROJECT_NAME",
    "flexzoo_artifact_metadata",
    "flexzoo_epoch_end",
    "flexzoo_model_built",
    "flexzoo_pretrained_source",
    "flexzoo_run_end",
    "flexzoo_run_start",
    "hookimpl",
    "hookspec",
    *(kind.hook for kind in COMPONENT_KINDS),  # the registration hooks, made below
]

PROJECT_NAME = "flexzoo"

#: Marks the host's hook specifications (the functions below); plugins do not need it.
hookspec = pluggy.HookspecMarker(PROJECT_NAME)
#: Marks a plugin's hook implementations: ``@hookimpl def flexzoo_backbones(): ...``.
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


# ---------------------------------------------------------------------------------------------
# Registration hooks: called once per process, when the registry is first needed.
# Each returns a sequence of Component; anything else marks the plugin broken (it is reported
# by ``zoo plugins`` and skipped, and every other plugin keeps working). There is one per kind,
# ``flexzoo_<plural>`` (``flexzoo_backbones``, ``flexzoo_heads``...), made from the kind's
# declaration in ``flexzoo.plugin.kinds``, whose ``hook_doc`` says what its factories take and return.
# ---------------------------------------------------------------------------------------------


def _registration_hookspec(kind: ComponentKind) -> Callable[[], Sequence[Component]]:
    """The hookspec ``flexzoo_<plural>`` of one kind, documented by its declaration."""

    def registration_hook() -> Sequence[Component]:
        """Replaced by the kind's ``hook_doc``; like every hookspec, never called."""

    registration_hook.__name__ = registration_hook.__qualname__ = kind.hook
    registration_hook.__doc__ = kind.hook_doc
    return hookspec(registration_hook)


for _kind in COMPONENT_KINDS:
    globals()[_kind.hook] = _registration_hookspec(_kind)
del _kind


# ---------------------------------------------------------------------------------------------
# Reference hooks: how a component's references to outside files resolve. Called by ``zoo lock``,
# ``zoo fetch``, ``zoo cache verify`` and ``zoo build``, on the plugin that offers the component only.
# ---------------------------------------------------------------------------------------------


@hookspec(firstresult=True)
def flexzoo_pretrained_source(component: str, reference: str | bool,
                              parameters: Mapping[str, Any]) -> PretrainedSource | None:
    """Say where a backbone's ``pretrained`` reference comes from: the files to fetch, lock and verify.

    Declare it once, and the host does the rest for every reference the plugin accepts: ``zoo fetch``
    downloads the files into the libraries' caches (``HF_HUB_CACHE``, ``TORCH_HOME``), ``zoo lock``
    pins each to its commit and sha256, ``zoo build`` refuses a file that differs from the lock and,
    offline (``HF_HUB_OFFLINE=1``), names the ``zoo fetch`` command for a missing one, and
    ``zoo cache verify`` re-hashes them. The factory reads the files through
    ``flexzoo.plugin.fetch_pretrained(source)`` (see :class:`flexzoo.plugin.PretrainedWeights`), which
    also records repository, commit, file, size, sha256 and preprocessing in the artifact.

    :param component: the backbone's name within the plugin (``resnet50`` for ``timm:resnet50``).
    :param reference: the ``pretrained`` value as the manifest wrote it: ``true`` (the architecture's
        default weights), a library's weights name (``"IMAGENET1K_V2"``), ``"hf-hub:ORG/NAME[@REVISION]"``
        (parse it with ``flexzoo.plugin.HubReference``), or a local path.
    :param parameters: the backbone's other parameters, every default filled in.
    :return: a :class:`flexzoo.plugin.PretrainedSource`; None when the reference is a local path (the
        host then pins the file itself). Raise ``ParameterError("pretrained", ...)`` for a reference the
        plugin cannot resolve, naming the valid ones. Stops at the first non-None result.
    """


# ---------------------------------------------------------------------------------------------
# Lifecycle hooks: called by the pipeline (``flexzoo.pipeline.stages``) at its stages, in plugin order.
# ---------------------------------------------------------------------------------------------


@hookspec
def flexzoo_model_built(model: nn.Module, manifest: ResolvedManifest) -> None:
    """Called after the model is assembled, initialized and given its ``from`` weights (the ``build``,
    ``init`` and ``transfer`` stages), before training and compression; also when ``flexzoo.load``
    rebuilds a model, before its stored weights are loaded.

    Like every hook, it is called through pluggy: an implementation may take any subset of the
    arguments.

    :param model: the assembled model (``model.backbone``, ``model.heads``).
    :param manifest: the validated manifest, every default filled in.
    :return: nothing; a plugin may inspect the model or modify it in place.
    """


@hookspec
def flexzoo_artifact_metadata(model: nn.Module, manifest: ResolvedManifest) -> Mapping[str, Any] | None:
    """Called just before an artifact is written, to add JSON-serializable entries to it.

    :param model: the final model whose weights are written.
    :param manifest: the validated manifest.
    :return: a mapping stored in the artifact under ``extra.<plugin name>``, or None.
    """


# ---------------------------------------------------------------------------------------------
# Run hooks: called by the training stage (``zoo train``, ``flexzoo.train``, each ``zoo tune`` trial),
# on rank 0 only, for every plugin. A tracker logs only the runs whose ``[track] use`` names it
# (``run.tracks("<plugin name>")``). Keep ``flexzoo_epoch_end`` cheap: it runs between epochs.
# ---------------------------------------------------------------------------------------------


@hookspec
def flexzoo_run_start(run: RunInfo) -> None:
    """Called once the run's ranks are set up, before the first epoch (after a resume: before the next one).

    :param run: the run (:class:`flexzoo.plugin.RunInfo`): its name and ``run_dir``, the resolved manifest
        (``run.params`` flattens it), the ``[track]`` settings, the planned epochs, ``first_epoch``.
    :return: nothing.
    """


@hookspec
def flexzoo_epoch_end(run: RunInfo, epoch: int, metrics: Mapping[str, float]) -> None:
    """Called after each epoch's validation and early-stopping check, before its checkpoint is written.

    An exception raised here stops the run (``zoo tune`` prunes a trial that way); the run then ends
    with ``flexzoo_run_end(status="failed")``.

    :param run: the run, as given to ``flexzoo_run_start``.
    :param epoch: the epoch just finished, from 1.
    :param metrics: flat scalars: ``train/loss``, ``lr``, ``seconds`` and ``validation/<name>`` for each
        validation metric (``validation/loss``, ``validation/digit.accuracy``).
    :return: nothing.
    """


@hookspec
def flexzoo_run_end(run: RunInfo, artifact: Path | None, history: Sequence[Mapping[str, Any]], status: str) -> None:
    """Called when the run is over: after the artifact is written and exported, or when training failed.

    :param run: the run, as given to ``flexzoo_run_start``.
    :param artifact: the artifact written (``.safetensors``), or None when the run failed.
    :param history: every epoch's record (the lines of ``metrics.jsonl``).
    :param status: ``"finished"`` or ``"failed"``.
    :return: nothing.
    """
