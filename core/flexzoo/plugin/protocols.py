"""The contract of each component kind: what its factory returns, as typed Protocols.

The host calls exactly the members listed here, the conformance kit (``flexzoo.testing``) checks
them, and ``zoo new-plugin`` writes components that follow them. Importing this module does not
import torch; tensors and modules appear in annotations only.

| kind        | the factory returns                                   | host-supplied factory parameters |
|-------------|-------------------------------------------------------|----------------------------------|
| backbone    | a :class:`Backbone` (an ``nn.Module``)                | ``input_shape``, ``members``,    |
|             |                                                       | ``returns``                      |
| head        | a :class:`Head` (an ``nn.Module``)                    | ``in_features`` or               |
|             |                                                       | ``feature_maps``; ``input_shape``|
| initializer | an :class:`Initializer` (or :class:`DataDependentInitializer`) | ``context``             |
| compressor  | a :class:`CompressionStep` (optionally restorable)    | ``input_shape``, ``context``     |
| strategy    | a :class:`Strategy`                                   |                                  |
| dataset     | a :class:`DataSource`                                 | ``location``, ``input_shape``    |
| tracker     | a :class:`Tracker`                                    |                                  |
| explainer   | an :class:`Explainer`                                 |                                  |
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    import torch
    from torch import nn

__all__ = [
    "Backbone",
    "CompressionStep",
    "DataDependentInitializer",
    "DataSource",
    "Explainer",
    "FeatureMap",
    "GrowableBackbone",
    "Head",
    "Initializer",
    "LocalTraining",
    "Model",
    "PackingStep",
    "RestorableStep",
    "Strategy",
    "Tracker",
]


@dataclass(frozen=True)
class FeatureMap:
    """One feature map a backbone returns: its name, its channels and its stride (input size / map size)."""

    name: str
    channels: int
    stride: int


@runtime_checkable
class Backbone(Protocol):
    """An ``nn.Module`` mapping a batch ``(B, *input_shape)`` to pooled features ``(B, F)``, or to feature maps.

    Pooled features are the default. A backbone that can also return feature maps declares the
    factory parameter ``returns: str``, which the host fills: ``"pooled"`` when the heads take
    ``(B, F)``, ``"maps"`` when they take maps (dense heads: segmentation, detection). With
    ``"maps"`` the module sets ``feature_maps: tuple[FeatureMap, ...]`` (finest first) and its
    forward returns a dict ``{map.name: (B, map.channels, H / map.stride, W / map.stride)}`` in that
    order. A factory that cannot return maps for its parameters raises ``ParameterError`` (naming
    the parameter that would allow it); one without ``returns`` only ever returns pooled features.

    ``num_features: int`` is optional: the host reads the feature size from it when the manifest
    has no ``input_shape`` to run a dry forward pass with. ``input_dtype: torch.dtype`` is optional
    too: a backbone of token ids sets ``torch.int64``, and the host's own example inputs (the dry
    run, export, the artifact's sample, latency) are then ids 0 and 1 instead of float noise.
    ``preprocessing: dict`` is optional: the ``mean``, ``std`` (one per channel) and ``interpolation``
    its pretrained weights expect, which ``[train.preprocess] normalize = "auto"`` (or ``"pretrained"``)
    then uses.
    """

    def __call__(self, x: torch.Tensor) -> torch.Tensor | Mapping[str, torch.Tensor]: ...


@runtime_checkable
class GrowableBackbone(Backbone, Protocol):
    """A backbone that ``[[train.grow]]`` can widen and deepen while it trains (Net2WiderNet / Net2DeeperNet).

    The host builds the grown backbone with the factory, from the parameters :meth:`grown_parameters`
    gives, and copies the weights over: a unit added to a layer copies one of the layer's units
    (new unit ``j`` of ``n`` copies old unit ``j % old_n``), and each layer that reads replicated units
    splits their weight among the copies, so the function is kept. The backbone makes its added
    layers start as the identity (:meth:`init_added_as_identity`). The host checks the grown model's
    outputs against the model's on a batch, and refuses a growth that changes them.
    """

    def grown_parameters(self, widths: list[int] | None, widen: float, deepen: int) -> dict[str, Any]:
        """The factory parameters that change (for example ``{"widths": [64, 64]}``).

        :param widths: the new widths, one per current width (None: ``widen`` them).
        :param widen: the factor every width is multiplied by, when ``widths`` is None.
        :param deepen: layers (or blocks per stage) to add.
        Raises ``ValueError`` with the reason when this backbone cannot grow so and keep its function.
        """

    def init_added_as_identity(self, added: list[str]) -> None:
        """Make the grown backbone's added parameters (``added``: their names) compute the identity."""


@runtime_checkable
class Model(Protocol):
    """A built flexzoo model, as ``flexzoo.load`` returns it: a batch to a dict of head outputs by head name.

    A backbone factory that declares ``members: list[Model]`` combines an ``[ensemble]``: the host
    builds each member from its stored manifest, with only the head being combined, and passes them.
    """

    def __call__(self, x: torch.Tensor) -> Mapping[str, torch.Tensor]: ...


@runtime_checkable
class Head(Protocol):
    """An ``nn.Module`` mapping the backbone's output to one task's output ``(B, ...)``.

    The factory's signature says what the head consumes: ``in_features: int`` for pooled features
    ``(B, in_features)``, or ``feature_maps: list[FeatureMap]`` for the maps of a backbone that
    returns them (the module is then called with the dict of maps). It may also declare
    ``input_shape`` (one sample's shape), e.g. to upsample per-pixel outputs to the input's size.
    The host refuses, before building, a head whose input the backbone does not return.
    """

    def __call__(self, features: torch.Tensor | Mapping[str, torch.Tensor]) -> torch.Tensor: ...


@runtime_checkable
class Initializer(Protocol):
    """Initializes, in place, the parameters one module owns directly (``recurse=False``).

    The host calls it on every module whose qualified name matches the step's ``match`` glob, in
    module order, under the build seed.
    """

    def __call__(self, module: nn.Module) -> None: ...


@runtime_checkable
class DataDependentInitializer(Initializer, Protocol):
    """An initializer that runs the model on data (LSUV): it sees the whole model, not one module.

    The host calls ``initialize(model, selected)`` once, with the qualified names of the modules the
    step's ``match`` selects, in module order, instead of calling ``init(module)`` on each. The factory
    declares ``context`` and reads batches through it (``context.calibration_batches``) inside
    ``initialize``, never in the factory (which also runs in the dry run). ``init(module)`` stays the
    data-free part, for callers without data.
    """

    def initialize(self, model: nn.Module, selected: list[str]) -> None: ...


@runtime_checkable
class CompressionStep(Protocol):
    """Transforms a built (or trained) model; returns a model with the same ``backbone``/``heads`` layout.

    A step that needs the host (data to calibrate on, a fine-tune, a teacher artifact) declares the
    factory parameter ``context`` and receives a :class:`flexzoo.plugin.StepContext`.
    """

    def __call__(self, model: nn.Module) -> nn.Module: ...


@runtime_checkable
class RestorableStep(CompressionStep, Protocol):
    """A step whose result the architecture alone does not determine (pruned shapes, ranks, scales).

    ``record()`` (after the step ran) returns the JSON-serializable facts that ``restore`` needs;
    the host stores it in the artifact. On load the host calls ``restore(model, record)`` instead
    of the step: rebuild the compressed *structure* without data and without relying on the fresh
    weights, which the host then replaces strictly with the stored tensors. Afterwards ``record()``
    returns the same record, so a loaded model saves again. A step that is not restorable is
    replayed on load, so its structure must follow from the architecture alone.

    Optional: a class attribute ``restores_on_meta = True`` says ``restore`` needs no tensor values
    (it reshapes, replaces or casts modules), so ``flexzoo.load`` may rebuild on the meta device and
    assign the stored tensors without allocating twice; without it the model is built for real.
    """

    def record(self) -> dict[str, Any]: ...

    def restore(self, model: nn.Module, record: dict[str, Any]) -> nn.Module: ...


@runtime_checkable
class PackingStep(CompressionStep, Protocol):
    """A step that leaves tensors safetensors cannot hold (quantized tensor subclasses).

    ``pack(state)`` returns plain tensors plus a JSON-serializable ``packing`` (a dict of strings);
    ``unpack(tensors, packing)`` reverses it. Packs run in step order before writing, unpacks in
    reverse order after reading; unpacked tensors are loaded with ``assign=True``.
    """

    def pack(self, state: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], Mapping[str, str]]: ...

    def unpack(self, tensors: dict[str, torch.Tensor], packing: Mapping[str, str]) -> dict[str, torch.Tensor]: ...


@runtime_checkable
class Strategy(Protocol):
    """How a model runs across processes; exactly what the trainer calls, in this order.

    ``setup()`` first (join the process group; ``torchrun`` sets ``RANK``, ``WORLD_SIZE``, ...), then
    ``rank``, ``world_size`` and ``local_rank`` are read (0, 1, 0 for one process). ``wrap(model)``
    is called once, on the model already on its device; the optimizer is made from the wrapped
    module's parameters. Every epoch, ``all_reduce`` sums the loss and metric tensors over ranks,
    and ``model_state`` / ``optimizer_state`` snapshot the run for the checkpoint (collective: every
    rank calls them; rank 0 must receive the full, unsharded state on the CPU, keyed like the
    unwrapped model's). On resume ``load_optimizer_state`` restores what ``optimizer_state``
    returned. ``teardown()`` is called last, even when training failed.

    Optional, read with ``getattr``: ``federate(model, local)``. A strategy that has it runs the
    whole fit itself, federated: the trainer calls it once (after ``setup()``, before ``teardown()``)
    with the built model and a :class:`LocalTraining`, instead of its own epochs. It returns the
    aggregated model's record ``{"history": [...], "federation": {...}}`` in the process that writes
    the artifact (``rank`` 0), with the final weights loaded into ``model``, and None elsewhere.

    Optional, read with ``getattr``: ``save_sharded(wrapped, optimizer, directory)`` and
    ``load_sharded(wrapped, optimizer, directory)``. A strategy that has them checkpoints in shards
    (every rank writes its own part to ``directory``, e.g. with ``torch.distributed.checkpoint``)
    instead of gathering the state on rank 0; ``model_state`` is then called once, for the artifact.
    ``wrap_optimizer(wrapped, optimizer) -> optimizer``, called once right after the trainer made the
    optimizer (before any resume), returns the optimizer to train with instead (e.g. ZeRO's, whose
    state is partitioned across ranks); the state methods then receive that one.

    The trainer gives each rank its shard of every global batch and scales the loss so that
    averaging gradients over ranks yields the gradient of the whole batch; only rank 0 writes.
    Subclass :class:`flexzoo.plugin.SingleProcess` to inherit the one-process behaviour of each
    member and change only what your strategy does differently.
    """

    rank: int
    world_size: int
    local_rank: int

    def setup(self) -> None: ...

    def wrap(self, model: nn.Module) -> nn.Module: ...

    def all_reduce(self, tensor: torch.Tensor) -> torch.Tensor: ...

    def model_state(self, wrapped: nn.Module) -> dict[str, torch.Tensor]: ...

    def optimizer_state(self, wrapped: nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, Any]: ...

    def load_optimizer_state(self, wrapped: nn.Module, optimizer: torch.optim.Optimizer,
                             state: dict[str, Any]) -> None: ...

    def teardown(self) -> None: ...


class LocalTraining(Protocol):
    """What the host offers a federated strategy (``Strategy.federate``): its own training loop on any part
    of the ``[train]`` data, its validation pass, and a way to start this run again as another process.

    Positions count the training split's samples: 0 .. ``train_samples`` - 1.
    """

    seed: int  # [model] seed: partitions drawn from it are the same in every process
    train_samples: int
    #: ``python -m flexzoo train MANIFEST -o DIR --quiet``: this run, as one more process (None when
    #: the manifest was not read from a file); the strategy adds its own environment to tell it its role.
    command: list[str] | None

    def labels(self) -> Any:
        """The class of every training sample (the first classification head's target), an int64 numpy array,
        or None when no head classifies."""

    def train(self, model: nn.Module, positions: Any, epochs: int, round_number: int) -> dict[str, float]:
        """Train ``model`` in place for ``epochs`` on the samples at ``positions`` with ``[train]``'s optimizer,
        schedule and batch size (a fresh optimizer, seeded by ``round_number``); returns ``{"train_loss": ...}``."""

    def evaluate(self, model: nn.Module) -> dict[str, float]:
        """The validation metrics of ``model`` on the held-out split (the same keys as an epoch's)."""

    def round_ended(self, record: dict[str, Any]) -> None:
        """Report one aggregated round (``{"epoch": round, "validation": {...}, ...}``) as an epoch is reported."""


@runtime_checkable
class DataSource(Protocol):
    """A map-style data set that ``[train] data`` names: samples decoded when asked for.

    ``source[i]`` returns ``(input, targets)``: the input is a ``PIL.Image`` (the host resizes,
    augments and normalizes it by ``[train.preprocess]`` and ``[train.augment]``) or an array of
    ``input_shape`` (used as it is); ``targets`` maps each target name to an integer class or an
    array. It may raise for a sample that cannot be read (a corrupt image): the host skips or refuses
    it by ``[train] on_bad_sample``, naming the sample by ``describe(i)`` when the source has it.

    Optional members, read with ``getattr``:

    - ``labels: Mapping[str, Sequence[str]]``: class names per target (stored per head in the artifact);
    - ``targets: Mapping[str, ndarray]``: every sample's targets, read without decoding the inputs;
    - ``arrays: Mapping[str, ndarray]``: the whole data in memory (``"x"`` and the targets), for small
      sets: the host then indexes tensors instead of running a DataLoader;
    - ``held_out: int``: the last ``held_out`` samples are the validation split (else a seeded split);
    - ``fingerprint() -> str``: a digest of the data, so a resumed run refuses changed data;
    - ``describe(i) -> str``: where sample ``i`` comes from (a file name), for messages.
    """

    description: str

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> tuple[Any, Mapping[str, Any]]: ...


class Tracker(Protocol):
    """Where a run is logged: what a tracker factory (``flexzoo_trackers``) returns, called on rank 0.

    Each method is optional; the host calls those the object has, for a run whose ``[track] use`` names it:

    - ``run_start(run: RunInfo) -> None``: before the first epoch (after a resume: before the next one);
    - ``epoch_end(run: RunInfo, epoch: int, metrics: Mapping[str, float]) -> None``: after each epoch's
      validation (``train/loss``, ``lr``, ``validation/<head>.<metric>``, ``seconds``); keep it cheap;
    - ``run_end(run: RunInfo, artifact: Path | None, history: Sequence[Mapping[str, Any]], status: str)
      -> None``: when the run is over (``status`` ``"finished"``, or ``"failed"`` with ``artifact`` None).
    """


@runtime_checkable
class Explainer(Protocol):
    """How a prediction is attributed to its input: what an explainer factory returns.

    ``attribute(forward, inputs, target, layer)`` is called with gradients enabled and the model in
    evaluation mode:

    - ``forward(x) -> (B, K)``: the explained head's scores for a batch ``x`` of ``(B, *input_shape)``;
    - ``inputs``: the batch to explain (float, on the model's device);
    - ``target``: ``(B,)`` integer indices, the score explained for each sample;
    - ``layer``: for an explainer with ``needs_feature_maps``, the module whose output is the backbone's
      declared feature map (Grad-CAM's layer); else None.

    It returns attributions as a tensor of the inputs' shape ``(B, *input_shape)``, or ``(B, 1, *spatial)``
    for a method that attributes positions, not channels (Grad-CAM, upsampled to the input's size).

    ``settings`` holds the baseline and every setting, JSON-serializable, recorded with each explanation.
    Optional: ``baseline(inputs) -> Tensor``: the explainer claims completeness (the attributions of a
    sample sum to ``forward(inputs) - forward(baseline)`` at its target), and the host reports the gap.
    """

    settings: Mapping[str, Any]
    needs_feature_maps: bool

    def attribute(self, forward: Callable[[torch.Tensor], torch.Tensor], inputs: torch.Tensor,
                  target: torch.Tensor, layer: nn.Module | None = None) -> torch.Tensor: ...
