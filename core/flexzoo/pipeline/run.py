"""The run value the stages hand each other: the resolved manifest and what was settled from it.

A :class:`Run` is frozen. A stage that settles something (the trainer's strategy and run hooks, the
growth steps, the grown model's manifest) returns a new Run made with :func:`dataclasses.replace`, and
the stages after it are given that one; no stage writes a field that another reads later.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from flexzoo.errors import ManifestError, ManifestKeyError
from flexzoo.manifest.train import TrainConfig
from flexzoo.tasks import tasks_of

if TYPE_CHECKING:
    from flexzoo.features.growth.growth import Growth
    from flexzoo.host.registry import Registry
    from flexzoo.manifest.resolved import ResolvedManifest
    from flexzoo.pipeline.run_hooks import RunHooks
    from flexzoo.plugin.protocols import Strategy

__all__ = ["Run", "located"]


@dataclass(frozen=True)
class Run:
    """One run over a validated manifest.

    :param train: the ``[train]`` section, parsed once into its typed settings (None without one).
    :param restoring: the model is being rebuilt by ``flexzoo.load``: outside weights are not loaded,
        initializers do not run, compression steps restore their structure from their records.
    :param strategy: the ``[distributed]`` strategy, once the train stage has made it.
    :param hooks: the run hooks and the trackers they call (rank 0), once the train stage has them.
    :param growth: ``[[train.grow]]``'s steps over the model, while it trains.
    """

    manifest: ResolvedManifest
    registry: Registry
    train: TrainConfig | None = None
    restoring: bool = False
    strategy: Strategy | None = None
    hooks: RunHooks | None = None
    growth: Growth | None = None

    @classmethod
    def of(cls, manifest: ResolvedManifest, registry: Registry, *, restoring: bool = False) -> Run:
        """The run of ``manifest``, with its ``[train]`` section parsed."""
        tasks = {name: tasks_of(registry, spec.use) for name, spec in manifest.heads.items()}
        train = TrainConfig.from_dict(manifest.train, tasks) if manifest.train is not None else None
        return cls(manifest=manifest, registry=registry, train=train, restoring=restoring)

    @property
    def seed(self) -> int:
        return self.manifest.model.seed

    def error(self, key: str, message: str, hint: str = "") -> ManifestError:
        """The error for ``key`` of this run's manifest, at its file and line."""
        where = self.manifest.where()
        return ManifestError(where.file, [where.problem(key, message, hint)])

    def grown(self) -> Run:
        """After training with ``[[train.grow]]``: the grown model's manifest, which later stages and the
        artifact describe (the steps taken are in the training record)."""
        if self.growth is None:
            return self
        assert self.train is not None
        return dataclasses.replace(self, manifest=self.growth.final_manifest(),
                                   train=dataclasses.replace(self.train, grow=()))


@contextlib.contextmanager
def located(manifest: ResolvedManifest) -> Iterator[None]:
    """Within the block, a :class:`ManifestKeyError` from a lower layer becomes the ManifestError at its line."""
    try:
        yield
    except ManifestKeyError as exc:
        raise exc.located(manifest.where()) from None
