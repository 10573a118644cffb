"""Prometheus metrics. With several worker processes, prometheus-client's
multiprocess mode (PROMETHEUS_MULTIPROC_DIR, set by the server) adds them up."""

from __future__ import annotations

import os

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)

disable_created_metrics()  # type: ignore[no-untyped-call]  # the *_created series double the output and nobody reads them

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.requests = Counter("janus_requests", "Requests by service and status", ["service", "status"],
                                registry=r)
        self.gas_charged = Counter("janus_gas_charged_tokens", "Tokens settled with the wallet", ["service"],
                                   registry=r)
        self.insufficient = Counter("janus_insufficient_gas", "Requests refused with 402", ["service"], registry=r)
        self.fail_open = Counter("janus_fail_open", "Requests forwarded while the wallet was unreachable",
                                 ["service"], registry=r)
        self.upstream_latency = Histogram("janus_upstream_latency_seconds", "Time to the upstream's response "
                                          "headers", ["service"], buckets=LATENCY_BUCKETS, registry=r)
        self.spooled = Counter("janus_spooled_charges", "Charges written to the local spool", registry=r)
        self.settle_rejected = Counter("janus_settle_rejected", "Charges the wallet refused for good", registry=r)
        self.holds_taken = Counter("janus_holds_taken", "Holds taken from the wallet", registry=r)
        self.spool_pending = Gauge("janus_spool_pending", "Charges waiting in the spool", registry=r,
                                   multiprocess_mode="max")
        # prometheus-client looks a labelled child up by a tuple each call; keep them.
        self._children: dict[tuple[str, ...], object] = {}

    def request(self, service: str, status: int) -> None:
        key = ("r", service, str(status))
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = self.requests.labels(service, str(status))
        child.inc()  # type: ignore[attr-defined]

    def latency(self, service: str, seconds: float) -> None:
        key = ("l", service)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = self.upstream_latency.labels(service)
        child.observe(seconds)  # type: ignore[attr-defined]

    def exposition(self) -> bytes:
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return generate_latest(registry)
        return generate_latest(self.registry)
