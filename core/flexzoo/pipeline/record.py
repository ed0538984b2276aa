"""The training record an artifact keeps of its run: data, epochs, final metrics, the metrics of every epoch."""

from __future__ import annotations

import dataclasses
import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flexzoo.features.growth.growth import Growth
    from flexzoo.manifest.resolved import ResolvedManifest
    from flexzoo.manifest.train import TrainConfig
    from flexzoo.training.data import Dataset
    from flexzoo.training.trainer import Fitted

__all__ = ["training_record"]


def training_record(manifest: ResolvedManifest, config: TrainConfig, data: Dataset, fitted: Fitted,
                    growth: Growth | None) -> dict[str, Any]:
    """What the artifact records of a run: data fingerprint and sizes, epochs, final metrics, metrics.jsonl."""
    assert manifest.distributed is not None
    history = fitted.history
    return {
        "data": {"source": config.data, "description": data.description, "sha256": data.fingerprint,
                 "train_samples": len(data.train_index), "validation_samples": len(data.validation_index),
                 "skipped_samples": len(data.skipped)},
        "epochs_run": len(history), "stopped_early": fitted.stopped_early,
        "world_size": fitted.world_size, "strategy": manifest.distributed.use,
        "final_validation": history[-1]["validation"] if history else {},
        **({"federation": fitted.federation} if fitted.federation is not None else {}),
        "metrics_jsonl": "".join(json.dumps(record) + "\n" for record in history),
        **({"growth": growth.records} if growth is not None else {}),
        **({"adversarial": {**dataclasses.asdict(config.adversarial), "space": "pixels in [0, 1]",
                            "attack_library": "torchattacks"}} if config.adversarial is not None else {}),
    }
