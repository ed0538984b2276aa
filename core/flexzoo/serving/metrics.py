"""Prometheus metrics of a server: requests, errors, latency, batch sizes, the version each model serves, and
each version's drift scores (:mod:`flexzoo.monitoring`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

if TYPE_CHECKING:
    from flexzoo.monitoring.drift import Scores

__all__ = ["Metrics"]

_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    """One registry per server (so tests and several servers in one process do not share counts)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("flexzoo_requests", "Prediction requests answered, by model, version and status",
                                ["model", "version", "status"], registry=self.registry)
        self.errors = Counter("flexzoo_request_errors", "Prediction requests that failed, by model and kind "
                              "(client: a 4xx, server: a 5xx)", ["model", "kind"], registry=self.registry)
        self.latency = Histogram("flexzoo_request_latency_seconds", "Time from request to answer",
                                 ["model"], buckets=_LATENCY_BUCKETS, registry=self.registry)
        self.batch_size = Histogram("flexzoo_batch_size", "Samples per model call (merged requests)",
                                    ["model", "version"], buckets=_BATCH_BUCKETS, registry=self.registry)
        self.version = Gauge("flexzoo_model_version_info", "1 for the version a model serves, 0 for the others "
                             "it keeps", ["model", "version", "sha256"], registry=self.registry)
        self.reloads = Counter("flexzoo_reloads", "Version loads, by model and result (ok, failed, rollback)",
                               ["model", "result"], registry=self.registry)

        self.drift = Gauge("flexzoo_drift", "1 when the last window scored drifted from the artifact's reference "
                           "profile (any test below its Bonferroni-corrected level), else 0", ["model", "version"],
                           registry=self.registry)
        self.drift_p_value = Gauge("flexzoo_drift_p_value", "Each drift test's p-value on the last window scored",
                                   ["model", "version", "test"], registry=self.registry)
        self.drift_score = Gauge("flexzoo_drift_score", "Each drift test's score on the last window scored (KS "
                                 "statistic, MMD², Jensen-Shannon distance, shift of the mean confidence)",
                                 ["model", "version", "test"], registry=self.registry)
        self.drift_windows = Counter("flexzoo_drift_windows", "Windows scored, by verdict (drift or ok)",
                                     ["model", "version", "verdict"], registry=self.registry)

    def scored(self, model: str, version: str, scores: Scores) -> None:
        """Publish a window's drift scores."""
        for test in scores.tests:
            self.drift_p_value.labels(model, version, test.name).set(test.p_value)
            self.drift_score.labels(model, version, test.name).set(test.score)
        self.drift.labels(model, version).set(1 if scores.drift else 0)
        self.drift_windows.labels(model, version, "drift" if scores.drift else "ok").inc()

    def text(self) -> bytes:
        return generate_latest(self.registry)
