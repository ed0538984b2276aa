"""The component kinds: one declaration each, from which the host's tables and registration hooks are made.

A kind is declared once, as a :class:`ComponentKind` in :data:`COMPONENT_KINDS`: its names, the Protocol its
factories return, the factory parameters the host fills in, the documentation of its registration hook, and
where its kit check and ``zoo new-plugin`` example live. ``flexzoo.plugin.components`` derives ``KINDS``,
``REGISTRATION_HOOKS`` and ``HOST_PARAMETERS`` from it, and ``flexzoo.plugin.hookspecs`` makes one
``flexzoo_<plural>`` hookspec per kind. A test checks that every named thing exists, so adding a kind is one
record here plus the code it points at. This module imports nothing of flexzoo (the references are strings,
resolved on use), so reading it stays cheap and below every layer.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["COMPONENT_KINDS", "ComponentKind", "kind_named", "resolve"]


@dataclass(frozen=True)
class ComponentKind:
    """One kind of component a plugin may offer.

    :param name: the kind, singular (``"backbone"``): ``zoo list backbone``, ``RegisteredComponent.kind``.
    :param plural: its plural (``"backbones"``), which names the registration hook ``flexzoo_<plural>``.
    :param protocol: the name, in ``flexzoo.plugin`` (``flexzoo.plugin.protocols``), of the Protocol the
        kind's factories return.
    :param check: ``"module:function"`` of the kit check that holds a component of this kind to its Protocol;
        ``flexzoo.testing.check_component`` calls it with the arguments it declares (``input_shape``,
        ``example``, ``location``).
    :param example: ``"module:attribute"`` of the :class:`flexzoo.scaffold.components.Template` (source,
        factory, imports, manifest lines) that ``zoo new-plugin --kinds`` writes for this kind.
    :param hook_doc: the registration hook's docstring (what the factory takes and returns, and when the
        host calls what); docs/plugins.md's hook reference is rendered from it.
    :param host_parameters: factory parameters the host fills in itself, in this order, with what each
        holds; a manifest may not set them.
    """

    name: str
    plural: str
    protocol: str
    check: str
    example: str
    hook_doc: str
    host_parameters: Mapping[str, str] = field(default_factory=dict, compare=False)

    @property
    def hook(self) -> str:
        """The name of the kind's registration hook (``flexzoo_backbones``)."""
        return f"flexzoo_{self.plural}"


_CONTEXT = "the host's StepContext (data, fine-tune, evaluate, artifacts)"
_API_1_MANIFEST = "the resolved manifest (plugin API 1, deprecated: take `context`)"

#: Every kind, in lifecycle order.
COMPONENT_KINDS: tuple[ComponentKind, ...] = (
    ComponentKind(
        "backbone", "backbones", protocol="Backbone",
        check="flexzoo.testing.checks:check_backbone",
        example="flexzoo.scaffold.components:BACKBONE_EXAMPLE",
        host_parameters={
            "input_shape": "filled from [model] input_shape",
            "context": _CONTEXT,
            "members": "the [ensemble] member models, built by the host from their stored manifests",
            "branches": "one backbone per [inputs.<name>], built by the host (a fusion's parameter)",
            "features": "each [inputs] branch's feature size (a fusion's parameter)",
            "returns": '"pooled", or "maps" when the heads take feature maps',
            "manifest": _API_1_MANIFEST,
        },
        hook_doc="""Declare backbones: modules that turn an input batch into features.

        A backbone factory takes its parameters as keyword arguments and returns an ``nn.Module``
        mapping a batch of shape ``(B, *input_shape)`` to features of shape ``(B, F)``. It may declare
        a parameter ``input_shape: tuple[int, ...]``, which the host fills from ``[model] input_shape``.
        A backbone that can also return feature maps declares ``returns: str``: the host passes
        ``"maps"`` when the heads take maps, and the module then sets ``feature_maps`` (a tuple of
        ``FeatureMap(name, channels, stride)``) and returns a dict of ``(B, C, H, W)`` maps by name.

        :return: the plugin's backbones. Every plugin's result is collected.
        """,
    ),
    ComponentKind(
        "head", "heads", protocol="Head",
        check="flexzoo.testing.checks:check_head",
        example="flexzoo.scaffold.components:HEAD_EXAMPLE",
        host_parameters={
            "in_features": "filled from the backbone's feature size",
            "feature_maps": "the backbone's feature maps (name, channels, stride), for a head that takes maps",
            "input_shape": "filled from [model] input_shape",
        },
        hook_doc="""Declare heads: modules on top of the backbone's features, one per task.

        A head factory must take ``in_features: int`` (filled by the host from the backbone's output)
        and returns an ``nn.Module`` mapping ``(B, in_features)`` to the task's output; or, for a dense
        head, ``feature_maps: list[FeatureMap]`` instead, and the module maps the backbone's dict of
        maps to the output (it may also declare ``input_shape``). The dry run refuses a head whose
        input the backbone cannot return, naming both. ``Component(..., tasks=(HeadTask(...),))``
        declares what the head is trained for: its losses, metrics, score and decoding
        (:class:`flexzoo.plugin.HeadTask`); a head without tasks trains for classification, regression
        or detection.

        :return: the plugin's heads. Every plugin's result is collected.
        """,
    ),
    ComponentKind(
        "initializer", "initializers", protocol="Initializer",
        check="flexzoo.testing.checks:check_initializer",
        example="flexzoo.scaffold.components:INITIALIZER_EXAMPLE",
        host_parameters={
            "input_shape": "filled from [model] input_shape",
            "context": "the host's StepContext (a data-dependent initializer reads [train] batches)",
            "manifest": _API_1_MANIFEST,
        },
        hook_doc="""Declare initializers.

        An initializer factory takes its parameters and returns a callable ``init(module) -> None``
        that initializes, in place, the parameters owned directly by one module. The host calls it on
        every module whose qualified name matches the manifest's ``match`` glob, under the build seed.
        A data-dependent one (LSUV) declares ``context`` and has ``initialize(model, selected)``, which the
        host calls once instead (:class:`flexzoo.plugin.DataDependentInitializer`).

        :return: the plugin's initializers. Every plugin's result is collected.
        """,
    ),
    ComponentKind(
        "compressor", "compressors", protocol="CompressionStep",
        check="flexzoo.testing.compressors:check_compressor",
        example="flexzoo.scaffold.components:COMPRESSOR_EXAMPLE",
        host_parameters={
            "input_shape": "filled from [model] input_shape",
            "context": _CONTEXT,
            "manifest": _API_1_MANIFEST,
        },
        hook_doc="""Declare compressors: transformations of a built (or trained) model.

        A compressor factory takes its parameters and returns a step that follows
        :class:`flexzoo.plugin.CompressionStep`: ``step(model) -> model``, keeping the ``backbone``/``heads``
        layout. The host fills two factory parameters when the factory declares them:

        - ``input_shape: tuple[int, ...]``, from ``[model] input_shape``;
        - ``context: StepContext`` (:class:`flexzoo.plugin.StepContext`): what a step may ask of the host:
          the ``[train]`` data (loaded once per run), ``fine_tune(model, epochs=...)``, ``evaluate(model)``,
          ``load_artifact(path)`` (a teacher), ``resolve_path``, and ``restoring`` (the model is being
          rebuilt by ``flexzoo.load``: restore, don't train). Ask for data in the step, not the factory:
          factories also run in the dry run.

        A step whose structure the architecture alone does not determine (pruned shapes, ranks,
        activation scales) is a :class:`flexzoo.plugin.RestorableStep` (``record()`` and
        ``restore(model, record)``); one that leaves tensors safetensors cannot hold is a
        :class:`flexzoo.plugin.PackingStep` (``pack(state)`` and ``unpack(tensors, packing)``). The
        Protocols' docstrings say when the host calls each member. A step whose ``restore`` (or replay)
        needs no tensor values (it reshapes, replaces or casts modules) sets ``restores_on_meta = True``:
        ``flexzoo.load`` then rebuilds the model on the meta device and assigns the stored tensors,
        without allocating or initializing anything; otherwise the model is built with real tensors.

        A component may also say how steps combine (``Component.makes``, ``refuses_after``) and which
        ``[export] formats`` its result supports (``Component.export_formats``); validation refuses a
        manifest that breaks either, before anything is built.

        :return: the plugin's compressors. Every plugin's result is collected.
        """,
    ),
    ComponentKind(
        "strategy", "strategies", protocol="Strategy",
        check="flexzoo.testing.strategies:check_strategy",
        example="flexzoo.scaffold.components:STRATEGY_EXAMPLE",
        hook_doc="""Declare distributed strategies: how a model runs across processes.

        A strategy factory takes its parameters (``[distributed]`` keys) and returns an object that
        follows :class:`flexzoo.plugin.Strategy`, exactly what the trainer calls: ``setup()``; then
        ``rank``, ``world_size``, ``local_rank``; ``wrap(model)``; ``all_reduce(tensor)`` (a sum over
        ranks); ``model_state(wrapped)`` and ``optimizer_state(wrapped, optimizer)`` (collective; rank 0
        receives the full state on the CPU); ``load_optimizer_state(wrapped, optimizer, state)`` on
        resume; ``teardown()``, even when training failed. Optional members (sharded checkpoints, an
        optimizer whose state is sharded) are listed on :class:`flexzoo.plugin.Strategy`. Subclass
        :class:`flexzoo.plugin.SingleProcess` and override what your strategy does differently;
        ``flexzoo.testing.check_strategy`` runs the trainer's sequence on your strategy.

        :return: the plugin's strategies. Every plugin's result is collected.
        """,
    ),
    ComponentKind(
        "dataset", "datasets", protocol="DataSource",
        check="flexzoo.testing.datasets:check_dataset",
        example="flexzoo.scaffold.components:DATASET_EXAMPLE",
        host_parameters={
            "location": "filled from [train] data (`name:LOCATION`; paths resolved from the manifest)",
            "input_shape": "filled from [model] input_shape",
        },
        hook_doc="""Declare data sources: what ``[train] data = "name:LOCATION"`` reads.

        A dataset factory takes its parameters (the ``[train.source]`` keys) and returns an object that
        follows :class:`flexzoo.plugin.DataSource`: a map-style data set (``len(source)`` and
        ``source[i] -> (input, {target: value})``) whose samples are decoded when asked for, so that
        ``torch.utils.data.DataLoader`` workers read them in parallel and nothing is held in memory. An
        input is a ``PIL.Image`` (the host applies ``[train.preprocess]`` and ``[train.augment]``) or an
        array (used as it is). Optional members: ``labels`` (class names per target, stored in the
        artifact), ``targets`` (every target, read without decoding inputs), ``arrays`` (small data held
        in memory: the fast path), ``held_out`` (the last N samples are the validation split) and
        ``fingerprint()``. A sample that cannot be read raises; the host skips or refuses it by
        ``[train] on_bad_sample``. Whole-source problems (a missing column, an unreadable shard, a path
        outside the data root) raise :class:`flexzoo.plugin.DataError` from the factory.

        The host fills two factory parameters when the factory declares them:

        - ``location: str``, the part of ``[train] data`` after ``name:``; a relative path is resolved
          from the manifest's folder;
        - ``input_shape: tuple[int, ...]``, from ``[model] input_shape``.

        ``flexzoo.testing.check_dataset`` reads a source as the host does.

        :return: the plugin's data sources. Every plugin's result is collected.
        """,
    ),
    ComponentKind(
        "tracker", "trackers", protocol="Tracker",
        check="flexzoo.testing.tracking:check_tracker_component",
        example="flexzoo.scaffold.components:TRACKER_EXAMPLE",
        hook_doc="""\
        Declare trackers: where a training run is logged (``[track] use = ["name"]``), with settings of their own.

        A tracker factory takes its settings as keyword arguments (the keys of the ``[track.<name>]`` table,
        validated against its signature before anything runs, shown by ``zoo info <name>``) and returns an
        object that follows :class:`flexzoo.plugin.Tracker`: any of ``run_start(run)``,
        ``epoch_end(run, epoch, metrics)`` and ``run_end(run, artifact, history, status)``, called on rank 0
        for the runs whose ``[track] use`` names it. The factory is called once per run, when it starts.
        ``run.settings("<name>")`` holds the resolved settings too, for a plugin that logs through the run
        hooks below instead.

        ``flexzoo.testing.check_tracker`` runs a tracker through a real training run.

        :return: the plugin's trackers. Every plugin's result is collected.
        """,
    ),
    ComponentKind(
        "explainer", "explainers", protocol="Explainer",
        check="flexzoo.testing.explainers:check_explainer",
        example="flexzoo.scaffold.components:EXPLAINER_EXAMPLE",
        hook_doc="""Declare explainers: how a prediction is attributed to its input (``zoo explain --method NAME``).

        An explainer factory takes its settings as keyword arguments and returns an object that follows
        :class:`flexzoo.plugin.Explainer`: ``settings`` (the baseline and every setting, recorded beside
        each explanation), ``needs_feature_maps`` and ``attribute(forward, inputs, target, layer)``, which
        returns one attribution per input value. The host chooses the head and the target class, runs the
        model in evaluation mode with gradients, and checks what comes back: an explainer with a
        ``baseline(inputs)`` member claims completeness (attributions sum to ``f(x) - f(baseline)``), and
        the host reports the gap; ``zoo explain --sanity`` re-initializes the heads and the last backbone
        stage and says whether the explainer's maps change (Adebayo et al. 2018).

        An explainer with ``needs_feature_maps = True`` (Grad-CAM) receives as ``layer`` the module whose
        output is the backbone's last declared feature map (:class:`flexzoo.plugin.FeatureMap`, or the one
        ``--layer`` names); the host refuses it, with one message, for a backbone that declares none.

        ``flexzoo.testing.check_explainer`` runs an explainer on a small CNN as the host does.

        :return: the plugin's explainers. Every plugin's result is collected.
        """,
    ),
)


def kind_named(name: str) -> ComponentKind:
    """The declaration of the kind ``name`` (singular); KeyError naming the kinds when there is none."""
    for kind in COMPONENT_KINDS:
        if kind.name == name:
            return kind
    raise KeyError(f"no component kind {name!r}; kinds: {', '.join(k.name for k in COMPONENT_KINDS)}")


def resolve(reference: str) -> Any:
    """The object a ``"module:attribute"`` reference of a declaration names (imported on first use)."""
    module, _, attribute = reference.partition(":")
    return getattr(importlib.import_module(module), attribute)
