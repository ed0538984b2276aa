"""MLflow for flexzoo runs: the resolved manifest as params, every epoch's metrics, the artifact.

Logs a run when its manifest says ``[track] use = ["mlflow"]``. The tracking URI is ``[track] tracking_uri``,
else ``MLFLOW_TRACKING_URI``, else a local store under the output folder: ``<out>/mlruns/mlflow.db`` (SQLite;
MLflow 3 keeps its plain-file store in maintenance mode) with artifacts in ``<out>/mlruns/artifacts``.
Calls to MLflow run on a background thread, in order, so an epoch waits for none of them; the run's
end waits for all. Only rank 0 logs. Cheap to import: mlflow loads when a run starts.
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from flexzoo.plugin import RunInfo, hookimpl

FLEXZOO_PLUGIN_API = 2
NAME = "mlflow"
PARAM_LENGTH = 6000  # MLflow's limit on a param's value
PARAMS_PER_BATCH = 100


def tracking_uri(run: RunInfo) -> str:
    """``[track] tracking_uri``, else ``MLFLOW_TRACKING_URI``, else ``sqlite:///<out>/mlruns/mlflow.db``."""
    chosen = run.track.get("tracking_uri") or os.environ.get("MLFLOW_TRACKING_URI")
    return chosen or f"sqlite:///{(run.out_dir / 'mlruns' / 'mlflow.db').resolve()}"


class _Logger:
    """One MLflow run, fed through a queue that one thread works through in order."""

    def __init__(self, run: RunInfo) -> None:
        import queue  # here, with the thread: `zoo list` imports this module and starts none
        import threading

        self.run = run
        self.client: Any = None
        self.run_id = ""
        self.errors: list[str] = []
        self.jobs: queue.Queue[Callable[[], None] | None] = queue.Queue()
        self.thread = threading.Thread(target=self._work, name="flexzoo-mlflow", daemon=True)
        self.thread.start()
        self.submit(self._start)

    def submit(self, job: Callable[[], None]) -> None:
        self.jobs.put(job)

    def _work(self) -> None:
        while (job := self.jobs.get()) is not None:
            if self.errors:  # after a failure, later calls would only fail too
                continue
            try:
                job()
            except Exception as exc:  # a tracker must not stop the training it watches
                self.errors.append(f"{type(exc).__name__}: {exc}")

    def _start(self) -> None:
        from mlflow.entities import Param
        from mlflow.tracking import MlflowClient

        run = self.run
        uri = tracking_uri(run)
        if uri.startswith("sqlite:///"):
            Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        self.client = MlflowClient(tracking_uri=uri)
        experiment = self.client.get_experiment_by_name(run.experiment)
        if experiment is not None:
            experiment_id = experiment.experiment_id
        else:
            local = uri == f"sqlite:///{(run.out_dir / 'mlruns' / 'mlflow.db').resolve()}"
            location = (run.out_dir / "mlruns" / "artifacts").resolve().as_uri() if local else None
            experiment_id = self.client.create_experiment(run.experiment, artifact_location=location)
        tags = {"flexzoo.model": run.name, "flexzoo.world_size": str(run.world_size)}
        if run.first_epoch > 1:
            tags["flexzoo.resumed_at_epoch"] = str(run.first_epoch)
        self.run_id = self.client.create_run(experiment_id, run_name=run.name, tags=tags).info.run_id
        params = [Param(key, str(value)[:PARAM_LENGTH]) for key, value in sorted(run.params.items())]
        for start in range(0, len(params), PARAMS_PER_BATCH):
            self.client.log_batch(self.run_id, params=params[start:start + PARAMS_PER_BATCH])

    def metrics(self, epoch: int, metrics: Mapping[str, float]) -> None:
        from mlflow.entities import Metric

        stamp = int(1000 * time.time())
        self.client.log_batch(self.run_id, metrics=[Metric(name, value, stamp, epoch) for name, value in
                                                     metrics.items()])

    def finish(self, artifact: Path | None, status: str) -> None:
        if artifact is not None and self.run.track.get("log_artifact", True):
            self.client.log_artifact(self.run_id, str(artifact))
        self.client.set_terminated(self.run_id, "FINISHED" if status == "finished" else "FAILED")

    def close(self) -> None:
        self.jobs.put(None)
        self.thread.join()
        if self.errors:
            warnings.warn(f"flexzoo-plugin-mlflow could not log run {self.run.name} to {tracking_uri(self.run)}: "
                          f"{self.errors[0]}", RuntimeWarning, stacklevel=2)


_loggers: dict[Path, _Logger] = {}


@hookimpl
def flexzoo_run_start(run: RunInfo) -> None:
    if run.tracks(NAME):
        _loggers[run.run_dir] = _Logger(run)


@hookimpl
def flexzoo_epoch_end(run: RunInfo, epoch: int, metrics: Mapping[str, float]) -> None:
    logger = _loggers.get(run.run_dir)
    if logger is not None:
        values = dict(metrics)
        logger.submit(lambda: logger.metrics(epoch, values))


@hookimpl
def flexzoo_run_end(run: RunInfo, artifact: Path | None, history: Sequence[Mapping[str, Any]], status: str) -> None:
    logger = _loggers.pop(run.run_dir, None)
    if logger is not None:
        logger.submit(lambda: logger.finish(artifact, status))
        logger.close()
