"""What the wallet answers, as typed values (`Wallet`, `Charge`, `Hold`, ...), and the items of batch calls."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

from tawa.names import Grant, wallet_id
from tawa.wallet.client._errors import WalletError

T = TypeVar("T")


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


@dataclass(frozen=True)
class Balances:
    intro: int
    purchased: int
    earned: int


@dataclass(frozen=True)
class Available:
    """What each kind of spending may use now: hosting = total − held; api = purchased + earned − held."""

    hosting: int
    api: int


@dataclass(frozen=True)
class Wallet:
    id: str
    org: str
    balances: Balances
    held: int
    total: int
    available: Available

    @classmethod
    def parse(cls, d: Mapping[str, Any]) -> Wallet:
        return cls(d["id"], d["org"], Balances(**d["balances"]), d["held"], d["total"], Available(**d["available"]))


@dataclass(frozen=True)
class Entry:
    account: str
    wallet: str | None
    token_type: str | None
    amount: int

    @classmethod
    def parse(cls, d: Mapping[str, Any]) -> Entry:
        return cls(d["account"], d.get("wallet"), d.get("tokenType"), d["amount"])


@dataclass(frozen=True)
class Transaction:
    id: int
    type: str
    time: datetime | None
    wallet: str
    counterparty: str | None
    amount: int
    hold: str | None
    details: dict[str, Any]
    entries: list[Entry]
    actor: str | None = None  # admin | operator | janus | key:{id}; None: the wallet itself, or an old row

    @classmethod
    def parse(cls, d: Mapping[str, Any]) -> Transaction:
        return cls(d["id"], d["type"], _time(d.get("time")), d["wallet"], d.get("counterparty"), d["amount"],
                   d.get("hold"), dict(d.get("details") or {}), [Entry.parse(e) for e in d.get("entries", [])],
                   d.get("actor"))


@dataclass(frozen=True)
class LedgerPage:
    wallet: str
    transactions: list[Transaction]
    next_cursor: str | None

    @classmethod
    def parse(cls, d: Mapping[str, Any]) -> LedgerPage:
        return cls(d["wallet"], [Transaction.parse(t) for t in d["transactions"]], d.get("nextCursor"))


@dataclass(frozen=True)
class Charge:
    """Result of a purchase or a hosting charge: the ledger transaction and the wallet after it.
    `replayed`: the wallet answered from an earlier request with the same idempotency key
    (a retry, or another operator replica that charged first), so this call moved nothing;
    it is still the same charge, and compares equal to the first answer."""

    transaction: Transaction
    wallet: Wallet
    replayed: bool = field(default=False, compare=False)

    @classmethod
    def parse(cls, d: Mapping[str, Any]) -> Charge:
        return cls(Transaction.parse(d["transaction"]), Wallet.parse(d["wallet"]))


@dataclass(frozen=True)
class ReserveCheck:
    wallet: str
    tier: str
    replicas: int
    ok: bool
    balance: int
    required: int
    shortfall: int

    @classmethod
    def parse(cls, d: Mapping[str, Any]) -> ReserveCheck:
        return cls(d["wallet"], d["tier"], d["replicas"], d["ok"], d["balance"], d["required"], d["shortfall"])


@dataclass(frozen=True)
class BillGrants:
    wallet: str
    grants: tuple[Grant, ...]

    @classmethod
    def parse(cls, d: Mapping[str, Any]) -> BillGrants:
        return cls(d["wallet"], tuple(Grant(g["org"], g["service"]) for g in d["grants"]))


@dataclass(frozen=True)
class OrgKey:
    """An org key as listed: never its secret."""

    id: str
    name: str
    role: str
    created_at: datetime | None
    last_used_at: datetime | None

    @classmethod
    def parse(cls, d: Mapping[str, Any]) -> OrgKey:
        return cls(d["id"], d["name"], d["role"], _time(d["createdAt"]), _time(d.get("lastUsedAt")))


@dataclass(frozen=True)
class NewOrgKey:
    """A key just created: `key` is its secret, shown only this once."""

    id: str
    key: str
    role: str
    name: str
    created_at: datetime | None

    @classmethod
    def parse(cls, d: Mapping[str, Any]) -> NewOrgKey:
        return cls(d["id"], d["key"], d["role"], d["name"], _time(d["createdAt"]))


@dataclass(frozen=True)
class Reversal:
    """A reversal: the compensating transaction, the one it reverses, and the original's wallet after."""

    transaction: Transaction
    reverses: int
    wallet: Wallet

    @classmethod
    def parse(cls, d: Mapping[str, Any]) -> Reversal:
        return cls(Transaction.parse(d["transaction"]), d["reverses"], Wallet.parse(d["wallet"]))


@dataclass(frozen=True)
class Hold:
    id: str
    wallet: str
    tokens: int
    remaining: int
    settled: int
    released: int
    status: str  # open | released | expired
    expires_at: datetime | None
    created_at: datetime | None

    @classmethod
    def parse(cls, d: Mapping[str, Any]) -> Hold:
        return cls(d["id"], d["wallet"], d["tokens"], d["remaining"], d["settled"], d["released"], d["status"],
                   _time(d.get("expiresAt")), _time(d.get("createdAt")))


@dataclass(frozen=True)
class Settlement:
    transaction: int
    hold: str
    wallet: str
    provider: str
    tokens: int
    remaining: int
    paid_from: dict[str, int]

    @classmethod
    def parse(cls, d: Mapping[str, Any]) -> Settlement:
        return cls(d["transaction"], d["hold"], d["wallet"], d["provider"], d["tokens"], d["remaining"],
                   dict(d["paidFrom"]))


@dataclass(frozen=True)
class HoldRequest:
    """One item of `hold_batch`: hold `tokens` of `org`'s wallet."""

    org: str
    tokens: int
    ttl_seconds: int = 300
    key: str = field(default_factory=lambda: str(uuid.uuid4()))

    def json(self) -> dict[str, Any]:
        return {"key": self.key, "wallet": wallet_id(self.org), "tokens": self.tokens,
                "ttlSeconds": self.ttl_seconds}


@dataclass(frozen=True)
class SettleRequest:
    """One item of `settle_batch`: `provider` is the org credited."""

    hold: str
    provider: str
    tokens: int
    service: str
    route: str
    method: str
    request_id: str
    key: str = field(default_factory=lambda: str(uuid.uuid4()))

    def json(self) -> dict[str, Any]:
        return {"key": self.key, "hold": self.hold, "provider": wallet_id(self.provider), "tokens": self.tokens,
                "service": self.service, "route": self.route, "method": self.method, "requestId": self.request_id}


@dataclass(frozen=True)
class BatchResult(Generic[T]):
    """One item's outcome: `status` is the HTTP status the single call would have had."""

    key: str
    status: int
    body: dict[str, Any]
    value: T | None = None
    error: WalletError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class GasEvent:
    id: int
    kind: str  # api | hosting
    time: datetime | None
    org: str
    wallet: str
    provider: str | None
    service: str | None
    route: str | None
    method: str | None
    tokens: int
    request_id: str | None
    transaction: int
    details: dict[str, Any]

    @classmethod
    def parse(cls, d: Mapping[str, Any]) -> GasEvent:
        known = {"id", "kind", "time", "org", "wallet", "provider", "service", "route", "method", "tokens",
                 "requestId", "transaction"}
        return cls(d["id"], d["kind"], _time(d.get("time")), d["org"], d["wallet"], d.get("provider"),
                   d.get("service"), d.get("route"), d.get("method"), d["tokens"], d.get("requestId"),
                   d["transaction"], {k: v for k, v in d.items() if k not in known})


@dataclass(frozen=True)
class GasEventsPage:
    events: list[GasEvent]
    next_cursor: str | None

    @classmethod
    def parse(cls, d: Mapping[str, Any]) -> GasEventsPage:
        return cls([GasEvent.parse(e) for e in d["events"]], d.get("nextCursor"))


@dataclass(frozen=True)
class GasStatsGroup:
    key: str
    tokens: int
    events: int
    api_tokens: int
    hosting_tokens: int


@dataclass(frozen=True)
class GasStats:
    by: str
    groups: list[GasStatsGroup]
    tokens: int
    events: int

    @classmethod
    def parse(cls, d: Mapping[str, Any]) -> GasStats:
        groups = [GasStatsGroup(g["key"], g["tokens"], g["events"], g["apiTokens"], g["hostingTokens"])
                  for g in d["groups"]]
        return cls(d["by"], groups, d["total"]["tokens"], d["total"]["events"])


@dataclass(frozen=True)
class Integrity:
    ok: bool
    problems: list[str]
    counts: dict[str, int]

    @classmethod
    def parse(cls, d: Mapping[str, Any]) -> Integrity:
        return cls(d["ok"], list(d["problems"]), dict(d.get("counts", {})))
