"""The wallet's Prometheus metrics (one registry per app)."""

from __future__ import annotations

from collections import Counter as Counter_
from collections.abc import Sequence

from prometheus_client import CollectorRegistry, Counter, Histogram

from tawa.wallet import domain as d


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("wallet_http_requests_total", "HTTP requests", ["method", "route", "status"],
                                registry=r)
        self.latency = Histogram("wallet_http_request_seconds", "HTTP request latency", ["route"], registry=r)
        self.commands = Counter("wallet_commands_total", "Ledger commands by outcome", ["kind", "status"],
                                registry=r)
        self.tokens = Counter("wallet_gas_tokens_total", "Tokens moved by successful commands", ["kind"],
                              registry=r)
        self.batch = Histogram("wallet_batch_items", "Items per batch call", ["kind"], registry=r,
                               buckets=(1, 10, 50, 100, 250, 500, 1000))
        self.expired = Counter("wallet_holds_expired_total", "Holds expired by the sweep", registry=r)

    def record(self, items: Sequence[tuple[str, d.Command]], outcomes: Sequence[d.Outcome]) -> None:
        # Counted locally first: a labelled prometheus increment per batch item cost more than its SQL.
        counts: Counter_[tuple[str, int]] = Counter_()
        tokens: Counter_[str] = Counter_()
        for (_, cmd), out in zip(items, outcomes, strict=True):
            counts[cmd.kind, out.status] += 1
            amount = getattr(cmd, "tokens", None)
            if out.ok and type(amount) is int:
                tokens[cmd.kind] += amount
        for (kind, status), n in counts.items():
            self.commands.labels(kind, str(status)).inc(n)
        for kind, n in tokens.items():
            self.tokens.labels(kind).inc(n)


