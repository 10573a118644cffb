"""Typed client for the wallet HTTP API, shared by the operator, Janus and the CLI.

`WalletClient` (sync) and `AsyncWalletClient` (async) have the same methods and
return the same dataclasses. Every mutating method takes `idempotency_key`; when
it is None a fresh uuid4 is used, so pass your own key whenever you may retry
(e.g. `hosting/{component uid}/{hour}`).

Errors are typed, all subclasses of `WalletError` (`.status`, `.body`, `.code`):

- `WalletNotFound` (404 WALLET_NOT_FOUND), `HoldNotFound` (404 HOLD_NOT_FOUND),
  `KeyNotFound` (404 KEY_NOT_FOUND)
- `InsufficientGas` (402; `.required`, `.available`, `.wallet`)
- `HoldClosed` (409 HOLD_RELEASED / HOLD_EXPIRED: the hold can no longer be settled)
- `IdempotencyConflict` (422 IDEMPOTENCY_KEY_REUSED, or 409 IDEMPOTENCY_IN_FLIGHT
  after the client's own short retries ran out)
- `InvalidRequest` (400/422 bad input), `WalletAuthError` (401/403)
- `WalletUnavailable` (connection refused, timeouts, 5xx): the operator fails
  closed on it, Janus fails open. Only a real outage is this.
- `BadWalletAnswer` (a 2xx the client cannot read, or a status it does not
  know): an error, never an outage — nobody fails open on it.

Every method takes an org (`acme`), never a wallet id: the client builds the
wallet id with `tawa.names.wallet_id`, which refuses anything that is not an
org slug (`tawa.names.InvalidName`), and quotes every path segment, so no
input can choose another path or query than the one the method names.

Batch calls (`hold_batch`, `settle_batch`) never raise for an item: each
`BatchResult` carries its own status, body, parsed value or typed error.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import httpx
import orjson

from tawa.names import Grant, wallet_id
from tawa.wallet.settings import client_token, client_url

T = TypeVar("T")

# A concurrent duplicate of a request that is still running gets 409; replaying it
# shortly after returns the first response, so the client waits for it (up to ~5 s,
# a group commit on a busy machine can take a while) before raising IdempotencyConflict.
IN_FLIGHT_RETRIES = 100
IN_FLIGHT_DELAY = 0.05


def _wallet_path(org: str, *rest: str) -> str:
    """`/v1/wallets/wallet-{org}/...`: the org validated, every segment quoted."""
    return "/".join(("/v1/wallets", quote(wallet_id(org), safe=""), *(quote(r, safe="") for r in rest)))


def _hold_path(hold: str, action: str) -> str:
    return f"/v1/holds/{quote(hold, safe='')}/{action}"


# --------------------------------------------------------------------------- errors


class WalletError(Exception):
    """Any refusal or failure from the wallet; `.status` 0 means no HTTP answer."""

    def __init__(self, status: int, body: Mapping[str, Any] | None = None, message: str | None = None) -> None:
        self.status = status
        self.body: dict[str, Any] = dict(body or {})
        self.code: str = str(self.body.get("error", "WALLET_ERROR"))
        self.field: str | None = self.body.get("field")
        super().__init__(message or self.body.get("message") or f"wallet answered HTTP {status}")


class WalletNotFound(WalletError):
    pass


class HoldNotFound(WalletError):
    pass


class InsufficientGas(WalletError):
    @property
    def required(self) -> int:
        return int(self.body.get("required", 0))

    @property
    def available(self) -> int:
        return int(self.body.get("available", 0))

    @property
    def wallet(self) -> str | None:
        return self.body.get("wallet")


class KeyNotFound(WalletError):
    """404 KEY_NOT_FOUND: the org has no live key with that id (revoked already, or never its)."""


class HoldClosed(WalletError):
    pass


class IdempotencyConflict(WalletError):
    pass


class InvalidRequest(WalletError):
    pass


class WalletAuthError(WalletError):
    pass


class WalletUnavailable(WalletError):
    pass


class BadWalletAnswer(WalletError):
    """The wallet answered, but not in a way this client understands: an error, not an outage."""


def error_for(status: int, body: Mapping[str, Any] | None) -> WalletError:
    """The typed exception for a non-2xx answer."""
    code = str((body or {}).get("error", ""))
    if status >= 500:
        return WalletUnavailable(status, body)
    if code.startswith("IDEMPOTENCY_") and status in (409, 422):
        return IdempotencyConflict(status, body)
    by_code: dict[str, type[WalletError]] = {
        "WALLET_NOT_FOUND": WalletNotFound,
        "HOLD_NOT_FOUND": HoldNotFound,
        "KEY_NOT_FOUND": KeyNotFound,
        "INSUFFICIENT_GAS": InsufficientGas,
        "HOLD_RELEASED": HoldClosed,
        "HOLD_EXPIRED": HoldClosed,
    }
    if code in by_code:
        return by_code[code](status, body)
    if status in (401, 403):
        return WalletAuthError(status, body)
    if 400 <= status < 500:
        return InvalidRequest(status, body)
    return BadWalletAnswer(status, body)


# --------------------------------------------------------------------------- results


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


def _keys(d: Mapping[str, Any]) -> list[OrgKey]:
    return [OrgKey.parse(k) for k in d["keys"]]


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


# --------------------------------------------------------------------------- calls


@dataclass(frozen=True)
class _Call(Generic[T]):
    """One HTTP exchange, independent of sync/async: both clients run the same calls."""

    method: str
    path: str
    parse: Callable[[Any], T]
    json: Any = None
    params: dict[str, Any] | None = None
    idempotency_key: str | None = None
    mutating: bool = False


def _key(key: str | None) -> str:
    return key or str(uuid.uuid4())


def _hour(hour: str | datetime) -> str:
    if isinstance(hour, datetime):
        hour = hour.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        return hour.strftime("%Y-%m-%dT%H:00:00Z")
    return hour


def _day(value: str | datetime | None) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _clean(params: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if v is not None}


def _post(path: str, parse: Callable[[Any], T], body: Any, key: str | None) -> _Call[T]:
    return _Call("POST", path, parse, json=body, idempotency_key=_key(key), mutating=True)


def _batch(kind: Callable[[Any], Any]) -> Callable[[Any], list[BatchResult[Any]]]:
    def parse(d: Mapping[str, Any]) -> list[BatchResult[Any]]:
        out: list[BatchResult[Any]] = []
        for r in d["results"]:
            status, body = r["status"], r.get("body") or {}
            if 200 <= status < 300:
                out.append(BatchResult(r["key"], status, body, value=kind(body)))
            else:
                out.append(BatchResult(r["key"], status, body, error=error_for(status, body)))
        return out

    return parse


class _Calls:
    """Builds every call once; `WalletClient` and `AsyncWalletClient` only send them."""

    @staticmethod
    def create_wallet(org: str, key: str | None) -> _Call[Wallet]:
        return _post("/v1/wallets", Wallet.parse, {"org": org}, key)

    @staticmethod
    def get_wallet(org: str) -> _Call[Wallet]:
        return _Call("GET", _wallet_path(org), Wallet.parse)

    @staticmethod
    def ledger(org: str, limit: int, cursor: str | None, from_: Any, to: Any) -> _Call[LedgerPage]:
        params = _clean({"limit": limit, "cursor": cursor, "from": _day(from_), "to": _day(to)})
        return _Call("GET", _wallet_path(org, "ledger"), LedgerPage.parse, params=params)

    @staticmethod
    def purchase(org: str, tokens: int, key: str | None) -> _Call[Charge]:
        return _post(_wallet_path(org, "purchases"), Charge.parse, {"tokens": tokens}, key)

    @staticmethod
    def check_reserve(org: str, tier: str, replicas: int, key: str | None) -> _Call[ReserveCheck]:
        body = {"tier": tier, "replicas": replicas}
        return _post(_wallet_path(org, "check-reserve"), ReserveCheck.parse, body, key)

    @staticmethod
    def hosting_charge(org: str, component: str, hour: str | datetime, tokens: int, tier: str | None,
                       pods: int | None, service: str | None, key: str | None) -> _Call[Charge]:
        body = _clean({"component": component, "hour": _hour(hour), "tokens": tokens, "tier": tier, "pods": pods,
                       "service": service})
        return _post(_wallet_path(org, "hosting-charges"), Charge.parse, body, key)

    @staticmethod
    def get_bill_grants(org: str) -> _Call[BillGrants]:
        return _Call("GET", _wallet_path(org, "bill-grants"), BillGrants.parse)

    @staticmethod
    def put_bill_grants(org: str, grants: Sequence[Grant]) -> _Call[BillGrants]:
        return _Call("PUT", _wallet_path(org, "bill-grants"), BillGrants.parse,
                     json={"grants": [g.json() for g in grants]}, mutating=True)

    @staticmethod
    def hold(org: str, tokens: int, ttl_seconds: int, key: str | None) -> _Call[Hold]:
        body = {"wallet": wallet_id(org), "tokens": tokens, "ttlSeconds": ttl_seconds}
        return _post("/v1/holds", Hold.parse, body, key)

    @staticmethod
    def settle(hold: str, provider: str, tokens: int, service: str, route: str, method: str, request_id: str,
               key: str | None) -> _Call[Settlement]:
        body = {"provider": wallet_id(provider), "tokens": tokens, "service": service, "route": route,
                "method": method, "requestId": request_id}
        return _post(_hold_path(hold, "settle"), Settlement.parse, body, key)

    @staticmethod
    def release(hold: str, key: str | None) -> _Call[Hold]:
        return _post(_hold_path(hold, "release"), Hold.parse, {}, key)

    @staticmethod
    def hold_batch(items: Sequence[HoldRequest], key: str | None) -> _Call[list[BatchResult[Hold]]]:
        return _post("/v1/holds/batch", _batch(Hold.parse), {"items": [i.json() for i in items]}, key)

    @staticmethod
    def settle_batch(items: Sequence[SettleRequest], key: str | None) -> _Call[list[BatchResult[Settlement]]]:
        return _post("/v1/settlements/batch", _batch(Settlement.parse), {"items": [i.json() for i in items]}, key)

    @staticmethod
    def gas_events(from_: Any, to: Any, service: str | None, org: str | None, limit: int,
                   cursor: str | None) -> _Call[GasEventsPage]:
        params = _clean({"from": _day(from_), "to": _day(to), "service": service, "org": org, "limit": limit,
                         "cursor": cursor})
        return _Call("GET", "/v1/gas/events", GasEventsPage.parse, params=params)

    @staticmethod
    def gas_stats(by: str, from_: Any, to: Any, org: str | None, service: str | None) -> _Call[GasStats]:
        params = _clean({"by": by, "from": _day(from_), "to": _day(to), "org": org, "service": service})
        return _Call("GET", "/v1/gas/stats", GasStats.parse, params=params)

    @staticmethod
    def create_key(org: str, role: str, name: str) -> _Call[NewOrgKey]:
        # No Idempotency-Key: the wallet never stores an answer that holds a secret.
        return _Call("POST", _wallet_path(org, "keys"), NewOrgKey.parse, json={"role": role, "name": name},
                     mutating=True)

    @staticmethod
    def list_keys(org: str) -> _Call[list[OrgKey]]:
        return _Call("GET", _wallet_path(org, "keys"), _keys)

    @staticmethod
    def revoke_key(org: str, key_id: str) -> _Call[None]:
        return _Call("DELETE", _wallet_path(org, "keys", key_id), lambda _: None, mutating=True)

    @staticmethod
    def reverse(transaction: int, key: str | None) -> _Call[Reversal]:
        return _post(f"/v1/transactions/{int(transaction)}/reversals", Reversal.parse, None, key)

    @staticmethod
    def integrity() -> _Call[Integrity]:
        return _Call("GET", "/v1/admin/integrity", Integrity.parse)

    @staticmethod
    def healthz() -> _Call[dict[str, Any]]:
        return _Call("GET", "/healthz", dict)


def _headers(token: str | None, call: _Call[Any]) -> dict[str, str]:
    headers = {"Accept": "application/json", "Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if call.idempotency_key:
        headers["Idempotency-Key"] = call.idempotency_key
    return headers


def _in_flight(response: httpx.Response) -> bool:
    return response.status_code == 409 and _body(response).get("error") == "IDEMPOTENCY_IN_FLIGHT"


def _content(call: _Call[Any]) -> bytes | None:
    return None if call.json is None else orjson.dumps(call.json)


def _body(response: httpx.Response) -> dict[str, Any]:
    try:
        data = orjson.loads(response.content)
    except ValueError:
        return {"error": "BAD_RESPONSE", "message": response.text[:200]}
    return data if isinstance(data, dict) else {"data": data}


def _still_running(results: Sequence[BatchResult[Any]]) -> list[int]:
    """Items whose key's first request was still running: resent (same key) to get its answer."""
    return [i for i, r in enumerate(results) if r.status == 409 and r.body.get("error") == "IDEMPOTENCY_IN_FLIGHT"]


def _merge(results: list[BatchResult[Any]], positions: list[int], answers: list[BatchResult[Any]]) -> None:
    for i, answer in zip(positions, answers, strict=True):
        results[i] = answer


def _result(call: _Call[T], response: httpx.Response) -> T:
    if response.status_code >= 300:
        raise error_for(response.status_code, _body(response))
    if response.status_code == 204:
        return call.parse(None)
    try:
        value = call.parse(orjson.loads(response.content))
    except (ValueError, KeyError, TypeError) as exc:
        raise BadWalletAnswer(response.status_code, message=f"wallet sent an unreadable answer: {exc!r}") from exc
    if isinstance(value, Charge) and response.headers.get("Idempotent-Replayed") == "true":
        return replace(value, replayed=True)
    return value


def _unavailable(base_url: str, exc: Exception) -> WalletUnavailable:
    return WalletUnavailable(0, {"error": "WALLET_UNAVAILABLE", "message": f"wallet at {base_url}: {exc!r}"})


# --------------------------------------------------------------------------- clients


class WalletClient:
    """Synchronous client. `WalletClient()` reads TAWA_WALLET_URL / TAWA_WALLET_TOKEN."""

    def __init__(self, base_url: str | None = None, token: str | None = None, *, timeout: float = 10.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.base_url = (base_url or client_url()).rstrip("/")
        self.token = token if token is not None else client_token()
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout, transport=transport)

    def __enter__(self) -> WalletClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _run(self, call: _Call[T]) -> T:
        for _ in range(IN_FLIGHT_RETRIES):
            try:
                response = self._http.request(call.method, call.path, content=_content(call), params=call.params,
                                              headers=_headers(self.token, call))
            except httpx.HTTPError as exc:
                raise _unavailable(self.base_url, exc) from exc
            if not _in_flight(response):
                break
            time.sleep(IN_FLIGHT_DELAY)
        return _result(call, response)

    def create_wallet(self, org: str, *, idempotency_key: str | None = None) -> Wallet:
        return self._run(_Calls.create_wallet(org, idempotency_key))

    def get_wallet(self, org: str) -> Wallet:
        return self._run(_Calls.get_wallet(org))

    def ledger(self, org: str, *, limit: int = 50, cursor: str | None = None, from_: str | datetime | None = None,
               to: str | datetime | None = None) -> LedgerPage:
        return self._run(_Calls.ledger(org, limit, cursor, from_, to))

    def purchase(self, org: str, tokens: int, *, idempotency_key: str | None = None) -> Charge:
        return self._run(_Calls.purchase(org, tokens, idempotency_key))

    def check_reserve(self, org: str, tier: str, replicas: int = 1, *,
                      idempotency_key: str | None = None) -> ReserveCheck:
        return self._run(_Calls.check_reserve(org, tier, replicas, idempotency_key))

    def hosting_charge(self, org: str, component: str, hour: str | datetime, tokens: int, *,
                       tier: str | None = None, pods: int | None = None, service: str | None = None,
                       idempotency_key: str | None = None) -> Charge:
        return self._run(_Calls.hosting_charge(org, component, hour, tokens, tier, pods, service, idempotency_key))

    def get_bill_grants(self, org: str) -> BillGrants:
        return self._run(_Calls.get_bill_grants(org))

    def put_bill_grants(self, org: str, grants: Sequence[Grant]) -> BillGrants:
        return self._run(_Calls.put_bill_grants(org, grants))

    def hold(self, org: str, tokens: int, ttl_seconds: int = 300, *, idempotency_key: str | None = None) -> Hold:
        return self._run(_Calls.hold(org, tokens, ttl_seconds, idempotency_key))

    def settle(self, hold: str, provider: str, tokens: int, *, service: str, route: str, method: str,
               request_id: str, idempotency_key: str | None = None) -> Settlement:
        return self._run(_Calls.settle(hold, provider, tokens, service, route, method, request_id, idempotency_key))

    def release(self, hold: str, *, idempotency_key: str | None = None) -> Hold:
        return self._run(_Calls.release(hold, idempotency_key))

    def hold_batch(self, items: Sequence[HoldRequest], *,
                   idempotency_key: str | None = None) -> list[BatchResult[Hold]]:
        return self._batch(_Calls.hold_batch, items, idempotency_key)

    def settle_batch(self, items: Sequence[SettleRequest], *,
                     idempotency_key: str | None = None) -> list[BatchResult[Settlement]]:
        return self._batch(_Calls.settle_batch, items, idempotency_key)

    def _batch(self, make: Callable[[Any, str | None], _Call[list[BatchResult[T]]]], items: Sequence[Any],
               key: str | None) -> list[BatchResult[T]]:
        results = self._run(make(items, key))
        for _ in range(IN_FLIGHT_RETRIES):
            again = _still_running(results)
            if not again:
                break
            time.sleep(IN_FLIGHT_DELAY)
            _merge(results, again, self._run(make([items[i] for i in again], None)))
        return results

    def gas_events(self, *, from_: str | datetime | None = None, to: str | datetime | None = None,
                   service: str | None = None, org: str | None = None, limit: int = 100,
                   cursor: str | None = None) -> GasEventsPage:
        return self._run(_Calls.gas_events(from_, to, service, org, limit, cursor))

    def gas_stats(self, *, by: str = "day", from_: str | datetime | None = None, to: str | datetime | None = None,
                  org: str | None = None, service: str | None = None) -> GasStats:
        return self._run(_Calls.gas_stats(by, from_, to, org, service))

    def create_key(self, org: str, role: str, name: str = "") -> NewOrgKey:
        return self._run(_Calls.create_key(org, role, name))

    def list_keys(self, org: str) -> list[OrgKey]:
        return self._run(_Calls.list_keys(org))

    def revoke_key(self, org: str, key_id: str) -> None:
        self._run(_Calls.revoke_key(org, key_id))

    def reverse(self, transaction: int, *, idempotency_key: str | None = None) -> Reversal:
        """Admin only: post the compensating transaction of `transaction` (once; a retry with the
        same key answers the same)."""
        return self._run(_Calls.reverse(transaction, idempotency_key))

    def integrity(self) -> Integrity:
        return self._run(_Calls.integrity())

    def healthz(self) -> dict[str, Any]:
        return self._run(_Calls.healthz())


class AsyncWalletClient:
    """Asynchronous twin of `WalletClient`: same methods, awaited."""

    def __init__(self, base_url: str | None = None, token: str | None = None, *, timeout: float = 10.0,
                 transport: httpx.AsyncBaseTransport | None = None, limits: httpx.Limits | None = None) -> None:
        self.base_url = (base_url or client_url()).rstrip("/")
        self.token = token if token is not None else client_token()
        self._http = httpx.AsyncClient(base_url=self.base_url, timeout=timeout, transport=transport,
                                       limits=limits or httpx.Limits(max_connections=100))

    async def __aenter__(self) -> AsyncWalletClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _run(self, call: _Call[T]) -> T:
        for _ in range(IN_FLIGHT_RETRIES):
            try:
                response = await self._http.request(call.method, call.path, content=_content(call),
                                                    params=call.params,
                                                    headers=_headers(self.token, call))
            except httpx.HTTPError as exc:
                raise _unavailable(self.base_url, exc) from exc
            if not _in_flight(response):
                break
            await asyncio.sleep(IN_FLIGHT_DELAY)
        return _result(call, response)

    async def create_wallet(self, org: str, *, idempotency_key: str | None = None) -> Wallet:
        return await self._run(_Calls.create_wallet(org, idempotency_key))

    async def get_wallet(self, org: str) -> Wallet:
        return await self._run(_Calls.get_wallet(org))

    async def ledger(self, org: str, *, limit: int = 50, cursor: str | None = None,
                     from_: str | datetime | None = None, to: str | datetime | None = None) -> LedgerPage:
        return await self._run(_Calls.ledger(org, limit, cursor, from_, to))

    async def purchase(self, org: str, tokens: int, *, idempotency_key: str | None = None) -> Charge:
        return await self._run(_Calls.purchase(org, tokens, idempotency_key))

    async def check_reserve(self, org: str, tier: str, replicas: int = 1, *,
                            idempotency_key: str | None = None) -> ReserveCheck:
        return await self._run(_Calls.check_reserve(org, tier, replicas, idempotency_key))

    async def hosting_charge(self, org: str, component: str, hour: str | datetime, tokens: int, *,
                             tier: str | None = None, pods: int | None = None, service: str | None = None,
                             idempotency_key: str | None = None) -> Charge:
        call = _Calls.hosting_charge(org, component, hour, tokens, tier, pods, service, idempotency_key)
        return await self._run(call)

    async def get_bill_grants(self, org: str) -> BillGrants:
        return await self._run(_Calls.get_bill_grants(org))

    async def put_bill_grants(self, org: str, grants: Sequence[Grant]) -> BillGrants:
        return await self._run(_Calls.put_bill_grants(org, grants))

    async def hold(self, org: str, tokens: int, ttl_seconds: int = 300, *,
                   idempotency_key: str | None = None) -> Hold:
        return await self._run(_Calls.hold(org, tokens, ttl_seconds, idempotency_key))

    async def settle(self, hold: str, provider: str, tokens: int, *, service: str, route: str, method: str,
                     request_id: str, idempotency_key: str | None = None) -> Settlement:
        call = _Calls.settle(hold, provider, tokens, service, route, method, request_id, idempotency_key)
        return await self._run(call)

    async def release(self, hold: str, *, idempotency_key: str | None = None) -> Hold:
        return await self._run(_Calls.release(hold, idempotency_key))

    async def hold_batch(self, items: Sequence[HoldRequest], *,
                         idempotency_key: str | None = None) -> list[BatchResult[Hold]]:
        return await self._batch(_Calls.hold_batch, items, idempotency_key)

    async def settle_batch(self, items: Sequence[SettleRequest], *,
                           idempotency_key: str | None = None) -> list[BatchResult[Settlement]]:
        return await self._batch(_Calls.settle_batch, items, idempotency_key)

    async def _batch(self, make: Callable[[Any, str | None], _Call[list[BatchResult[T]]]], items: Sequence[Any],
                     key: str | None) -> list[BatchResult[T]]:
        results = await self._run(make(items, key))
        for _ in range(IN_FLIGHT_RETRIES):
            again = _still_running(results)
            if not again:
                break
            await asyncio.sleep(IN_FLIGHT_DELAY)
            _merge(results, again, await self._run(make([items[i] for i in again], None)))
        return results

    async def gas_events(self, *, from_: str | datetime | None = None, to: str | datetime | None = None,
                         service: str | None = None, org: str | None = None, limit: int = 100,
                         cursor: str | None = None) -> GasEventsPage:
        return await self._run(_Calls.gas_events(from_, to, service, org, limit, cursor))

    async def gas_stats(self, *, by: str = "day", from_: str | datetime | None = None,
                        to: str | datetime | None = None, org: str | None = None,
                        service: str | None = None) -> GasStats:
        return await self._run(_Calls.gas_stats(by, from_, to, org, service))

    async def create_key(self, org: str, role: str, name: str = "") -> NewOrgKey:
        return await self._run(_Calls.create_key(org, role, name))

    async def list_keys(self, org: str) -> list[OrgKey]:
        return await self._run(_Calls.list_keys(org))

    async def revoke_key(self, org: str, key_id: str) -> None:
        await self._run(_Calls.revoke_key(org, key_id))

    async def reverse(self, transaction: int, *, idempotency_key: str | None = None) -> Reversal:
        return await self._run(_Calls.reverse(transaction, idempotency_key))

    async def integrity(self) -> Integrity:
        return await self._run(_Calls.integrity())

    async def healthz(self) -> dict[str, Any]:
        return await self._run(_Calls.healthz())


__all__ = [
    "AsyncWalletClient", "Available", "BadWalletAnswer", "Balances", "BatchResult", "BillGrants", "Charge", "Entry",
    "GasEvent", "GasEventsPage", "GasStats", "GasStatsGroup", "Grant", "Hold", "HoldClosed", "HoldNotFound",
    "HoldRequest", "IdempotencyConflict", "InsufficientGas", "Integrity", "InvalidRequest", "KeyNotFound",
    "LedgerPage", "NewOrgKey", "OrgKey", "ReserveCheck", "Reversal", "SettleRequest", "Settlement", "Transaction",
    "Wallet", "WalletAuthError", "WalletClient", "WalletError", "WalletNotFound", "WalletUnavailable", "error_for",
    "wallet_id",
]
