"""The ``[train]`` data as training reads it: a data source, a seeded split, and batches for each rank.

A source (a ``flexzoo_datasets`` component) either holds small arrays in memory, which are then
indexed directly (the fast path, bit for bit what it always was), or decodes each sample when asked,
which a ``torch.utils.data.DataLoader`` does in ``[train] workers`` processes. Both walk the same
seeded order: :class:`RankBatches` hands the DataLoader this rank's share of every global batch, so
that N ranks read each sample once per epoch. Random augmentation is seeded per (run, epoch, sample):
the result does not depend on the number of workers, and a resumed run sees the same images.
The split is seeded: ``validation_split`` of the samples, an image folder's own ``train/``/``val/``, or
one fold of a seeded k-fold split (``[train] folds``/``fold``, for ``zoo tune --cv``). With ``[train]
bootstrap`` the training indices are a seeded bootstrap sample of the split's (bagging); the
validation indices stay as they are.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Sampler, default_collate
from torch.utils.data import Dataset as TorchDataset

from flexzoo.errors import DataError, FlexzooError
from flexzoo.manifest.train import TrainConfig
from flexzoo.training.arrays import arrays_digest, as_tensor, fit_inputs, non_finite_samples
from flexzoo.training.sample_checks import TargetRule, as_input_mode, target_problem, target_rules
from flexzoo.training.streaming import ListedPlacement, ShuffledPlacement, StreamPass, file_order
from flexzoo.training.transforms import eval_transform, train_transform

__all__ = ["DataError", "Dataset", "RankBatches", "bootstrap_sample", "load_dataset"]

STATISTICS_SAMPLES = 256  # training images that the computed mean and std are taken from
Batch = tuple[Any, dict[str, torch.Tensor]]  # the inputs: a tensor, or a dict by input name (several [inputs])
Shapes = tuple[int, ...] | dict[str, tuple[int, ...]]  # one sample's shape, or each input's by name


@dataclass(frozen=True)
class BadSample:
    """A sample that could not be read, and why (returned by a worker instead of raising)."""

    index: int
    reason: str


class RankBatches(Sampler[list[Any]]):
    """A distributed batch sampler: this rank's share ``batch[rank::world]`` of each global batch of an order.

    The order is set before each pass (a seeded permutation per epoch); each index is sent with the
    epoch and whether it is a training pass, so that workers seed augmentation per sample.
    """

    def __init__(self) -> None:
        self.batches: list[list[Any]] = []

    def set(self, batches: Sequence[torch.Tensor], epoch: int, train: bool) -> None:
        self.batches = [[(int(i), epoch, train) for i in batch.tolist()] for batch in batches]

    def __iter__(self) -> Iterator[list[Any]]:
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)


class Samples(TorchDataset):
    """The source's samples as tensors: images transformed, arrays reshaped; failures become BadSample.

    Every sample is checked as it enters (flexzoo.training.sample_checks): its targets against ``rules``,
    its input's values; an image is converted to the input's channels first.
    """

    def __init__(self, source: Any, input_shape: tuple[int, ...] | None, seed: int, train: Any, evaluate: Any,
                 rules: dict[str, TargetRule] | None = None) -> None:
        self.source = source
        self.input_shape = input_shape
        self.seed = seed
        self.train_transform = train
        self.eval_transform = evaluate
        self.rules = rules or {}

    def describe(self, index: int) -> str:
        """``sample INDEX``, with where it comes from when the source says (``describe(i)``)."""
        describe = getattr(self.source, "describe", None)
        return f"sample {index}, {describe(index)}" if describe else f"sample {index}"

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, key: tuple[int, int, bool]) -> tuple[torch.Tensor, dict[str, Any]] | BadSample:
        index, epoch, train = key
        return self.prepared(index, lambda: self.source[index], epoch, train)

    def streamed(self, epoch: int, train: bool) -> Any:
        """``prepare(position, raw)`` for a streamed source's rows (see flexzoo.training.streaming)."""
        return lambda position, raw: self.prepared(position, lambda: self.source.sample(position, raw), epoch, train)

    def prepared(self, index: int, read: Any, epoch: int, train: bool
                 ) -> tuple[torch.Tensor, dict[str, Any]] | BadSample:
        """The sample ``read()`` gives, transformed; a failure becomes a BadSample."""
        try:
            value, targets = read()
            problem = target_problem(targets, self.rules) if self.rules else ""
            if problem:
                return BadSample(index, problem)
            if hasattr(value, "convert"):  # a PIL image: 8-bit pixels, scaled and normalized by a positive std,
                value = as_input_mode(value, self.input_shape)  # are always finite
                transform = self.train_transform if train else self.eval_transform
                if train and transform is not self.eval_transform:
                    inputs = self._seeded(transform, value, epoch, index)
                else:
                    inputs = transform(value)
            else:
                inputs = torch.as_tensor(np.asarray(value), dtype=torch.float32)
                if self.input_shape is not None:
                    inputs = inputs.reshape(self.input_shape)
                if not torch.isfinite(inputs).all():
                    return BadSample(index, "its input holds NaN or infinite values")
            return inputs, {name: torch.as_tensor(np.asarray(t)) for name, t in targets.items()}
        except Exception as exc:  # a corrupt file, a truncated image: reported, never a worker's traceback
            return BadSample(index, f"{type(exc).__name__}: {exc}")

    def _seeded(self, transform: Any, image: Any, epoch: int, index: int) -> torch.Tensor:
        seed = hash((self.seed, epoch, index)) & 0x7FFF_FFFF_FFFF_FFFF
        if torch.utils.data.get_worker_info() is not None:  # a worker's RNG is its own
            torch.manual_seed(seed)
            return transform(image)
        with torch.random.fork_rng(devices=[]):  # leave the training process's RNG (dropout) alone
            torch.manual_seed(seed)
            return transform(image)


def collate(samples: list[Any]) -> tuple[torch.Tensor, dict[str, torch.Tensor], list[BadSample]]:
    """Stack the readable samples; pass the unreadable ones on for the training process to report.

    ``default_collate`` stacks a worker's batch straight into shared memory, so it reaches the
    training process without a second copy.
    """
    bad = [s for s in samples if isinstance(s, BadSample)]
    good = [s for s in samples if not isinstance(s, BadSample)]
    if not good:
        return torch.empty(0), {}, bad
    inputs, targets = default_collate(good)
    return inputs, targets, bad


@dataclass
class Dataset:
    """The ``[train]`` data: a seeded split, targets, class names, and batches by index (TrainingData).

    ``inputs`` holds the whole input tensor of an array source (the fast path), else None: over the
    source's own memory, which is a memory-mapped file for .npz and .safetensors data, in the file's
    dtype; a batch taken from it is float32. A model of several [inputs] has one such tensor per input
    name (``input_shape`` is then each input's shape by name), and its batches' inputs are dicts.
    """

    source: Any
    targets: dict[str, torch.Tensor]
    train_index: torch.Tensor
    validation_index: torch.Tensor
    fingerprint: str
    description: str
    labels: dict[str, list[str]]
    config: TrainConfig
    input_shape: Any  # Shapes | None
    seed: int
    inputs: torch.Tensor | dict[str, torch.Tensor] | None = None
    #: the mean and std the backbone's pretrained weights expect (asked for when ``normalize`` may take them)
    pretrained: Callable[[], dict[str, Any] | None] | None = None
    skipped: dict[int, str] = field(default_factory=dict)
    origin: str = ""  # the data source's qualified name (``plugin:name``), for messages
    _preprocessing: dict[str, Any] | None = None
    _images: bool | None = None
    _loaders: dict[bool, tuple[DataLoader, RankBatches]] = field(default_factory=dict)
    _samples: Samples | None = None

    @property
    def where(self) -> str:
        """The data source as messages name it: its qualified name and description."""
        return f"data source `{self.origin}` ({self.description})" if self.origin else self.description

    @property
    def in_memory(self) -> bool:
        return self.inputs is not None

    @property
    def streamed(self) -> bool:
        """Whether the source streams its rows (it cannot be indexed; see flexzoo.training.streaming)."""
        return bool(getattr(self.source, "streaming", False))

    # -- preprocessing -----------------------------------------------------------------------

    def preprocessing(self) -> dict[str, Any] | None:
        """What turns a raw image into an input (None for array data): recorded in the artifact."""
        if self.in_memory or self.input_shape is None or not self._gives_images():
            return None
        if self._preprocessing is None:
            self._preprocessing = self._resolve_preprocessing()
        return self._preprocessing

    def _gives_images(self) -> bool:
        """Whether the source's samples are images (PIL) rather than arrays used as they are (asked once)."""
        if self._images is None:
            self._images = True
            for index in self.train_index[:8].tolist():
                try:
                    self._images = hasattr(self.source[index][0], "convert")
                    break
                except Exception:  # a bad sample: look at the next
                    continue
        return self._images

    def _resolve_preprocessing(self) -> dict[str, Any]:
        settings = self.config.preprocess
        channels = self.input_shape[0] if self.input_shape else 3
        declared = self.pretrained() if self.pretrained is not None else None
        pretrained = declared if declared and len(declared["mean"]) == channels else None
        result = {"input_size": list(self.input_shape or ()), "resize": settings["resize"],
                  "interpolation": settings["interpolation"], "channel_order": "RGB" if channels == 3 else "L",
                  "scale": "1/255", "mean": None, "std": None, "normalization": "none"}
        wanted = settings["normalize"]
        if settings["mean"] is not None and wanted in ("auto", "data", "pretrained"):
            result.update(mean=list(settings["mean"]), std=list(settings["std"]), normalization="manifest")
        elif wanted in ("auto", "pretrained") and pretrained:
            result.update(mean=pretrained["mean"], std=pretrained["std"], normalization="pretrained")
        elif wanted == "pretrained":
            raise DataError("[train.preprocess] normalize = \"pretrained\", but the backbone has no pretrained "
                            "config with a mean and std; use normalize = \"data\" or give mean and std")
        elif wanted in ("auto", "data"):
            mean, std = self._statistics(result)
            result.update(mean=mean, std=std, normalization="data")
        return result

    def _statistics(self, preprocessing: dict[str, Any]) -> tuple[list[float], list[float]]:
        """Per-channel mean and std of up to STATISTICS_SAMPLES training images (a fixed, seeded choice; a
        streamed source's first ones)."""
        transform = eval_transform({**preprocessing, "mean": None})
        total = squares = None
        pixels_seen = 0
        for read in self._statistics_images():
            try:
                image, _ = read()
                channels = transform(as_input_mode(image, self.input_shape)).double().flatten(1)
            except Exception:  # a bad sample is reported when training reaches it
                continue
            total = channels.sum(1) if total is None else total + channels.sum(1)
            squares = channels.pow(2).sum(1) if squares is None else squares + channels.pow(2).sum(1)
            pixels_seen += channels.shape[1]
        if total is None or squares is None:
            raise DataError(f"{self.description}: no training image could be read to compute the mean and std")
        mean = total / pixels_seen
        std = (squares / pixels_seen - mean.pow(2)).clamp_min(1e-12).sqrt()
        return [round(float(v), 6) for v in mean], [round(max(float(v), 1e-3), 6) for v in std]

    def _statistics_images(self) -> Iterator[Any]:
        """Readers of the images the mean and std are computed from: a seeded choice, or the stream's first."""
        if not self.streamed:
            order = torch.randperm(len(self.train_index), generator=torch.Generator().manual_seed(self.seed))
            for position in order[:STATISTICS_SAMPLES].tolist():
                yield lambda index=int(self.train_index[position]): self.source[index]
            return
        wanted = set(self.train_index[:STATISTICS_SAMPLES].tolist())
        for position, raw in self.source.rows(file_order(len(self.source.files), self.seed, None)):
            if position in wanted:
                wanted.discard(position)
                yield lambda position=position, raw=raw: self.source.sample(position, raw)
            if not wanted:
                return

    def samples(self) -> Samples:
        if self._samples is None:
            preprocessing = self.preprocessing()
            evaluate = train = None
            if preprocessing is not None:
                evaluate = eval_transform(preprocessing)
                train = train_transform(preprocessing, self.config.augment) if self.config.augmented else evaluate
            self._samples = Samples(self.source, self.input_shape, self.seed, train, evaluate,
                                    target_rules(self.targets))
        return self._samples

    def expect_classes(self, classes: dict[str, int]) -> None:
        """Hold every sample's target of each name in ``classes`` to that many classes (the head's outputs)."""
        samples = self.samples()
        samples.rules = {name: rule.with_classes(classes[name]) if name in classes else rule
                         for name, rule in samples.rules.items()}

    # -- batches -------------------------------------------------------------------------------

    def batch(self, index: torch.Tensor) -> Batch:
        """The inputs (evaluation transform) and targets of the samples at ``index``."""
        if self.inputs is not None:
            targets = {name: target[index] for name, target in self.targets.items()}
            if isinstance(self.inputs, dict):
                return {name: inputs[index].to(torch.float32) for name, inputs in self.inputs.items()}, targets
            return self.inputs[index].to(torch.float32), targets
        if self.streamed:
            return next(iter(self.batches([index], epoch=0, train=False, workers=0)))
        samples = self.samples()
        inputs, targets, bad = collate([samples[(int(i), 0, False)] for i in index.tolist()])
        return self._checked(inputs, targets, bad)

    def batches(self, batches: Sequence[torch.Tensor], *, epoch: int, train: bool, workers: int | None = None
                ) -> Iterator[Batch]:
        """Each index batch's samples, in order: indexed in memory, or read by the DataLoader's workers.

        A streamed source reads them in one pass over its files (index batches in file order read as they go).
        """
        if self.inputs is not None:
            for index in batches:
                yield self.batch(index)
            return
        if self.streamed:
            placement = ListedPlacement(batches)
            yield from self._stream(file_order(len(self.source.files), self.seed, None), placement,
                                    [len(b) for b in batches], epoch, train, workers)
            return
        loader, sampler = self._loader(train)
        sampler.set(batches, epoch, train)
        for inputs, targets, bad in loader:
            yield self._checked(inputs, targets, bad)

    def epoch_batches(self, epoch: int, steps: int, rank: int, world: int) -> Iterator[Batch]:
        """This rank's share of each of the epoch's ``steps`` global batches of a streamed source, in a seeded
        order (see flexzoo.training.streaming); an indexed source's are ``batches`` of a seeded permutation."""
        size, rows = self.config.batch_size, len(self.train_index)
        sizes = [len(range(rank, min(size, rows - k * size), world)) for k in range(steps)]
        placement = ShuffledPlacement(self.validation_index.numpy(), len(self.source), self.seed, epoch,
                                      self.source.shuffle_buffer, size, steps, rank, world)
        order = file_order(len(self.source.files), self.seed, epoch)
        yield from self._stream(order, placement, sizes, epoch, True, None)

    def _stream(self, order: list[int], placement: Any, sizes: list[int], epoch: int, train: bool,
                workers: int | None) -> Iterator[Batch]:
        workers = self.config.workers if workers is None else workers
        rows = StreamPass(self.source, order, placement, sizes, self.samples().streamed(epoch, train), collate)
        loader = DataLoader(rows, batch_size=None, num_workers=workers,
                            prefetch_factor=self.config.prefetch if workers else None,
                            pin_memory=torch.cuda.is_available() and self.config.device != "cpu")
        for inputs, targets, bad in loader:
            yield self._checked(inputs, targets, bad)

    def _loader(self, train: bool) -> tuple[DataLoader, RankBatches]:
        if train not in self._loaders:
            sampler = RankBatches()
            workers = self.config.workers
            loader = DataLoader(self.samples(), batch_sampler=sampler, collate_fn=collate, num_workers=workers,
                                persistent_workers=workers > 0,
                                prefetch_factor=self.config.prefetch if workers else None,
                                pin_memory=torch.cuda.is_available() and self.config.device != "cpu")
            self._loaders[train] = (loader, sampler)
        return self._loaders[train]

    def _checked(self, inputs: torch.Tensor, targets: dict[str, torch.Tensor], bad: list[BadSample]) -> Batch:
        if not bad and not len(inputs) and self.input_shape is not None:
            # an empty index batch (a rank's last validation batch when the split divides unevenly): shaped like
            # the in-memory path's, so the model runs it as every rank must
            return (torch.empty((0, *self.input_shape)),
                    {name: target[:0] for name, target in self.targets.items()})
        if bad:
            samples = self.samples()
            if self.config.on_bad_sample == "error":
                first = bad[0]
                fix = f"fix the sample (or data source `{self.origin}`)" if self.origin else "fix or remove it"
                raise DataError(f"{self.where}: cannot read {samples.describe(first.index)}: {first.reason}; "
                                f"{fix}, or set [train] on_bad_sample = \"skip\" to leave bad samples out")
            for sample in bad:
                if sample.index not in self.skipped:
                    self.skipped[sample.index] = f"{samples.describe(sample.index)}: {sample.reason}"
                    warnings.warn(f"skipping unreadable sample {self.skipped[sample.index]} "
                                  f"({len(self.skipped)} skipped so far)", stacklevel=2)
            if not len(inputs):
                raise DataError(f"{self.description}: every sample of a batch is unreadable (first: "
                                f"{self.skipped[bad[0].index]})")
        return inputs, targets

    def close(self) -> None:
        """Stop the loader's worker processes."""
        self._loaders.clear()


def _fold_split(count: int, config: TrainConfig, description: str) -> tuple[np.ndarray, np.ndarray]:
    """Fold ``config.fold`` of ``config.folds`` seeded folds for validation, the others for training.

    The folds cut one seeded permutation of every sample (an image folder's ``train/`` and ``val/`` pooled),
    so the K validation sets of one seed are disjoint and cover the data once.
    """
    if count < config.folds:
        raise DataError(f"{description}: {count} samples cannot make {config.folds} folds; lower [train] folds")
    order = np.random.default_rng(config.split_seed).permutation(count)
    parts = np.array_split(order, config.folds)
    validation = parts[config.fold]
    train = np.concatenate([part for index, part in enumerate(parts) if index != config.fold])
    return np.sort(validation), np.sort(train)


def _split(config: TrainConfig, count: int, held_out: int | None, description: str
           ) -> tuple[np.ndarray, np.ndarray]:
    """The training and validation indices: one fold of ``config.folds``, a source's own held-out tail, or
    a seeded ``validation_split``."""
    if config.folds > 1:
        validation, train = _fold_split(count, config, description)
        return train, validation
    if held_out is not None:
        return np.arange(count - held_out), np.arange(count - held_out, count)
    order = np.random.default_rng(config.split_seed).permutation(count)
    size = max(1, round(count * config.validation_split))
    return np.sort(order[size:]), np.sort(order[:size])


def bootstrap_sample(index: np.ndarray, seed: int) -> np.ndarray:
    """A bootstrap sample of ``index``: as many entries, drawn uniformly with replacement (seeded), sorted.

    Training reads ``train_index`` by position (a seeded permutation per epoch, each rank a share of every
    batch), so a repeated sample is simply read as often as it was drawn, on whichever rank gets it.
    """
    picks = np.random.default_rng(seed).integers(0, len(index), size=len(index))
    return np.sort(index[picks])


def _checked_inputs(array: np.ndarray, shape: tuple[int, ...] | None, description: str) -> torch.Tensor:
    """One input array reshaped to ``shape``, refused if a sample holds NaN or infinity; over its own memory."""
    inputs = fit_inputs(array, shape)
    bad = non_finite_samples(inputs)
    if len(bad):
        raise DataError(f"{description}: the inputs of {len(bad)} sample(s) hold NaN or infinite values "
                        f"(samples {', '.join(map(str, bad[:5]))}{'...' if len(bad) > 5 else ''}); clean the data")
    return as_tensor(inputs)


def load_dataset(config: TrainConfig, source: Any, input_shape: Shapes | None, seed: int = 0, origin: str = "",
                 pretrained: Callable[[], dict[str, Any] | None] | None = None) -> Dataset:
    """The data ``source`` gives, with its seeded train/validation split (held in memory when it is arrays).

    ``input_shape`` is each input's shape by name for a model of several inputs: its source must be arrays.
    ``origin`` is the source's qualified name (``plugin:name``): messages about its samples name it.
    ``pretrained`` gives the mean and std the backbone's pretrained weights expect (``normalize = "auto"``).
    """
    try:
        return _load_dataset(config, source, input_shape, seed, origin, pretrained)
    except FlexzooError:
        raise
    except Exception as exc:  # the source broke its contract (len, indexing, targets): the plugin is named
        where = f"data source `{origin}`" if origin else getattr(source, "description", type(source).__name__)
        raise DataError(f"{where}: {type(exc).__name__}: {exc}; the source must give len(source) and "
                        "source[i] = (input, {target name: value}) (docs/plugins.md, 'Data sources')") from exc


def _load_dataset(config: TrainConfig, source: Any, input_shape: Shapes | None, seed: int, origin: str,
                  pretrained: Callable[[], dict[str, Any] | None] | None) -> Dataset:
    description = getattr(source, "description", type(source).__name__)
    count = len(source)
    train, validation = _split(config, count, getattr(source, "held_out", None), description)
    if len(train) == 0:
        raise DataError(f"{description}: no samples left for training; lower [train] validation_split")
    if config.bootstrap is not None:
        if getattr(source, "streaming", False):
            raise DataError(f"{description}: [train] bootstrap needs a source whose samples can be indexed; this "
                            "one streams its rows in passes: remove bootstrap, or read the data without streaming")
        train = bootstrap_sample(train, config.bootstrap)
    labels = {name: list(names) for name, names in (getattr(source, "labels", None) or {}).items()}
    common = dict(source=source, train_index=torch.from_numpy(train.astype(np.int64)),
                  validation_index=torch.from_numpy(validation.astype(np.int64)), description=description,
                  labels=labels, config=config, input_shape=input_shape, seed=seed, origin=origin,
                  pretrained=pretrained)
    arrays = getattr(source, "arrays", None)
    if arrays is not None:
        arrays = dict(arrays)
        fingerprint = arrays_digest(arrays, validation)
        shapes = input_shape if isinstance(input_shape, dict) else {"x": input_shape}
        inputs = {name: _checked_inputs(arrays.pop(name), shape, description) for name, shape in shapes.items()}
        targets = {name: torch.from_numpy(np.ascontiguousarray(array)) for name, array in arrays.items()}
        held = inputs if isinstance(input_shape, dict) else inputs["x"]
        return Dataset(targets=targets, fingerprint=fingerprint, inputs=held, **common)
    if isinstance(input_shape, dict):
        raise DataError(f"{description}: a model of several [inputs] reads one array per input; this source gives "
                        'samples one at a time: use data = "arrays:FILE.npz"')
    listed = getattr(source, "targets", None)
    if listed is not None:
        targets = {name: torch.as_tensor(np.asarray(values)) for name, values in listed.items()}
    else:  # the source cannot list its targets: those of the first samples stand for them in checks
        first = [source[i][1] for i in train[:8].tolist()]
        targets = {name: torch.stack([torch.as_tensor(np.asarray(t[name])) for t in first]) for name in first[0]}
    fingerprint_of = getattr(source, "fingerprint", None)
    if fingerprint_of is not None:
        fingerprint = hashlib.sha256(f"{fingerprint_of()}\0{validation.tobytes().hex()}".encode()).hexdigest()
    else:
        fingerprint = arrays_digest({name: t.numpy() for name, t in targets.items()}, validation)
    return Dataset(targets=targets, fingerprint=fingerprint, **common)
