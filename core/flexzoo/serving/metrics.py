"""Prometheus metrics of a server: requests, errors, latency, batch sizes and the version each model serves."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

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

    def text(self) -> bytes:
        return generate_latest(self.registry)
