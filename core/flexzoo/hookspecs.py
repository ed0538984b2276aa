"""The whole extension surface of flexzoo: hook markers and hook specifications.

A plugin is a module (named by an entry point in the ``flexzoo`` group) holding functions marked
with :data:`hookimpl`. Registration hooks return :class:`flexzoo.Component` declarations; they run
when the host builds its registry, so they must stay cheap: no torch import at module level, no
model construction. Factories import their heavy dependencies when they are called.

Lifecycle hooks run during ``zoo build`` and receive the real objects.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import torch.nn as nn

    from flexzoo.components import Component
    from flexzoo.manifest import ResolvedManifest

PROJECT_NAME = "flexzoo"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


# ---------------------------------------------------------------------------------------------
# Registration hooks: called once per process, when the registry is first needed.
# Each returns a sequence of Component; anything else marks the plugin broken (it is reported
# by ``zoo plugins`` and skipped, and every other plugin keeps working).
# ---------------------------------------------------------------------------------------------


@hookspec
def flexzoo_backbones() -> Sequence[Component]:
    """Declare backbones: modules that turn an input batch into features.

    A backbone factory takes its parameters as keyword arguments and returns an ``nn.Module``
    mapping a batch of shape ``(B, *input_shape)`` to features of shape ``(B, F)``. It may declare
    a parameter ``input_shape: tuple[int, ...]``, which the host fills from ``[model] input_shape``.

    :return: the plugin's backbones. Every plugin's result is collected.
    """


@hookspec
def flexzoo_heads() -> Sequence[Component]:
    """Declare heads: modules on top of the backbone's features, one per task.

    A head factory must take ``in_features: int`` (filled by the host from the backbone's output)
    and returns an ``nn.Module`` mapping ``(B, in_features)`` to the task's output.

    :return: the plugin's heads. Every plugin's result is collected.
    """


@hookspec
def flexzoo_initializers() -> Sequence[Component]:
    """Declare initializers.

    An initializer factory takes its parameters and returns a callable ``init(module) -> None``
    that initializes, in place, the parameters owned directly by one module. The host calls it on
    every module whose qualified name matches the manifest's ``match`` glob, under the build seed.

    :return: the plugin's initializers. Every plugin's result is collected.
    """


@hookspec
def flexzoo_compressors() -> Sequence[Component]:
    """Declare compressors: transformations of a built (or trained) model.

    A compressor factory takes its parameters (and, if it declares them, ``input_shape``, filled
    from ``[model]``, and ``manifest``, the resolved manifest, for steps that train on its
    ``[train]`` data with ``flexzoo.training.fine_tune``) and returns a step: a callable
    ``step(model) -> model`` that returns a model with the same ``backbone``/``heads`` layout.
    The host keeps the step objects of a build and uses these optional members when it writes
    and loads an artifact:

    - ``step.record() -> dict``: after ``step(model)``, the JSON-serializable facts that the
      architecture alone does not determine (pruned shapes, chosen ranks, activation scales).
      Stored in the artifact under ``compression.steps[i].record``.
    - ``step.restore(model, record) -> model``: on load, instead of ``step(model)``: rebuild the
      compressed *structure* from the record, without data and without relying on the freshly
      initialized weights; the host then loads the stored tensors strictly, so every value
      comes from the artifact. Afterwards ``record()`` must return the same record, so that a
      loaded model saves again. A step without ``restore`` is replayed with ``step(model)``, so
      its structure must then follow from the architecture alone.
    - ``step.pack(state_dict) -> (tensors, packing)`` and ``step.unpack(tensors, packing) ->
      state_dict``: for tensors safetensors cannot hold (quantized tensor subclasses): ``pack``
      turns them into plain tensors plus a JSON-serializable ``packing`` (a dict of strings),
      ``unpack`` reverses it. Packs run in step order before writing, unpacks in reverse order
      after reading; unpacked tensors are loaded with ``assign=True``.

    A component may also say how steps combine (``Component.makes``, ``refuses_after``) and which
    ``[export] formats`` its result supports (``Component.export_formats``); validation refuses a
    manifest that breaks either, before anything is built.

    :return: the plugin's compressors. Every plugin's result is collected.
    """


@hookspec
def flexzoo_strategies() -> Sequence[Component]:
    """Declare distributed strategies: how a model runs across processes.

    A strategy factory takes its parameters (``[distributed]`` keys) and returns an object with:

    - ``rank``, ``world_size``, ``local_rank``: ints, valid after ``setup()`` (0, 1, 0 for one process).
    - ``setup()``: join the process group (``torchrun`` sets ``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``...).
    - ``wrap(model) -> model``: the module to train (DDP, FSDP...); called once, on the model already
      on its device. The optimizer is made afterwards from the wrapped module's parameters.
    - ``model_state(wrapped) -> dict[str, Tensor]``: the full, unsharded state dict on the CPU, keyed
      like the unwrapped model's. Collective: every rank calls it; rank 0 must get the full state.
    - ``optimizer_state(wrapped, optimizer) -> dict`` and ``load_optimizer_state(wrapped, optimizer, state)``:
      a full optimizer state that survives a restart with the same world size (collective).
    - ``all_reduce(tensor) -> tensor``: the sum over ranks (for metrics); ``barrier()``.
    - ``teardown()``: leave the process group; called even when training fails.

    The trainer gives each rank its shard of every global batch and scales the loss so that
    averaging gradients over ranks yields the gradient of the whole batch; only rank 0 writes.
    ``flexzoo.builtin.strategies.SingleProcess`` is the reference implementation.

    :return: the plugin's strategies. Every plugin's result is collected.
    """


# ---------------------------------------------------------------------------------------------
# Lifecycle hooks: called during ``zoo build`` / ``flexzoo.build``, in plugin order.
# ---------------------------------------------------------------------------------------------


@hookspec
def flexzoo_model_built(model: nn.Module, manifest: ResolvedManifest) -> None:
    """Called after the model is assembled and initialized, before compression.

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
