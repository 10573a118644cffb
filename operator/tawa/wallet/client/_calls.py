"""Every call to the wallet, built and read in one place; `WalletClient` and `AsyncWalletClient`
only send what a plan asks for (sans-I/O: a plan is a generator that yields `(call, delay)`, gets
the `httpx.Response` back, and returns the typed answer).

A concurrent duplicate of a request that is still running gets 409 IDEMPOTENCY_IN_FLIGHT;
replaying it shortly after returns the first answer, so a plan resends it (up to ~5 s: a group
commit on a busy machine can take a while) before the 409 becomes `IdempotencyConflict`.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import httpx
import orjson

from tawa.names import Grant, wallet_id
from tawa.wallet.client._errors import BadWalletAnswer, WalletAuthError, WalletUnavailable, error_for
from tawa.wallet.client._models import (
    BatchResult,
    BillGrants,
    Charge,
    GasEventsPage,
    GasStats,
    Hold,
    HoldRequest,
    Integrity,
    LedgerPage,
    NewOrgKey,
    OrgKey,
    ReserveCheck,
    Reversal,
    Settlement,
    SettleRequest,
    Wallet,
)
from tawa.wallet.settings import client_token, client_token_file

T = TypeVar("T")
IN_FLIGHT_RETRIES = 100
IN_FLIGHT_DELAY = 0.05
Plan = Generator[tuple["Call[Any]", float], httpx.Response, T]  # yields (call, seconds to wait first)


def _wallet_path(org: str, *rest: str) -> str:
    """`/v1/wallets/wallet-{org}/...`: the org validated, every segment quoted."""
    return "/".join(("/v1/wallets", quote(wallet_id(org), safe=""), *(quote(r, safe="") for r in rest)))


def _hold_path(hold: str, action: str) -> str:
    return f"/v1/holds/{quote(hold, safe='')}/{action}"


@dataclass(frozen=True)
class Call(Generic[T]):
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


def _post(path: str, parse: Callable[[Any], T], body: Any, key: str | None) -> Call[T]:
    return Call("POST", path, parse, json=body, idempotency_key=_key(key), mutating=True)


def _hold_batch(items: Sequence[HoldRequest], key: str | None) -> Call[list[BatchResult[Hold]]]:
    return _post("/v1/holds/batch", _batch(Hold.parse), {"items": [i.json() for i in items]}, key)


def _settle_batch(items: Sequence[SettleRequest], key: str | None) -> Call[list[BatchResult[Settlement]]]:
    return _post("/v1/settlements/batch", _batch(Settlement.parse), {"items": [i.json() for i in items]}, key)


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


class Calls:
    """The plan of every call; `WalletClient` and `AsyncWalletClient` only run them."""

    @staticmethod
    def create_wallet(org: str, key: str | None) -> Plan[Wallet]:
        return single(_post("/v1/wallets", Wallet.parse, {"org": org}, key))

    @staticmethod
    def get_wallet(org: str) -> Plan[Wallet]:
        return single(Call("GET", _wallet_path(org), Wallet.parse))

    @staticmethod
    def ledger(org: str, limit: int, cursor: str | None, from_: Any, to: Any) -> Plan[LedgerPage]:
        params = _clean({"limit": limit, "cursor": cursor, "from": _day(from_), "to": _day(to)})
        return single(Call("GET", _wallet_path(org, "ledger"), LedgerPage.parse, params=params))

    @staticmethod
    def purchase(org: str, tokens: int, key: str | None) -> Plan[Charge]:
        return single(_post(_wallet_path(org, "purchases"), Charge.parse, {"tokens": tokens}, key))

    @staticmethod
    def check_reserve(org: str, tier: str, replicas: int, key: str | None) -> Plan[ReserveCheck]:
        body = {"tier": tier, "replicas": replicas}
        return single(_post(_wallet_path(org, "check-reserve"), ReserveCheck.parse, body, key))

    @staticmethod
    def hosting_charge(org: str, component: str, hour: str | datetime, tokens: int, tier: str | None,
                       pods: int | None, service: str | None, key: str | None) -> Plan[Charge]:
        body = _clean({"component": component, "hour": _hour(hour), "tokens": tokens, "tier": tier, "pods": pods,
                       "service": service})
        return single(_post(_wallet_path(org, "hosting-charges"), Charge.parse, body, key))

    @staticmethod
    def get_bill_grants(org: str) -> Plan[BillGrants]:
        return single(Call("GET", _wallet_path(org, "bill-grants"), BillGrants.parse))

    @staticmethod
    def put_bill_grants(org: str, grants: Sequence[Grant]) -> Plan[BillGrants]:
        return single(Call("PUT", _wallet_path(org, "bill-grants"), BillGrants.parse,
                           json={"grants": [g.json() for g in grants]}, mutating=True))

    @staticmethod
    def hold(org: str, tokens: int, ttl_seconds: int, key: str | None) -> Plan[Hold]:
        body = {"wallet": wallet_id(org), "tokens": tokens, "ttlSeconds": ttl_seconds}
        return single(_post("/v1/holds", Hold.parse, body, key))

    @staticmethod
    def settle(hold: str, provider: str, tokens: int, service: str, route: str, method: str, request_id: str,
               key: str | None) -> Plan[Settlement]:
        body = {"provider": wallet_id(provider), "tokens": tokens, "service": service, "route": route,
                "method": method, "requestId": request_id}
        return single(_post(_hold_path(hold, "settle"), Settlement.parse, body, key))

    @staticmethod
    def release(hold: str, key: str | None) -> Plan[Hold]:
        return single(_post(_hold_path(hold, "release"), Hold.parse, {}, key))

    @staticmethod
    def hold_batch(items: Sequence[HoldRequest], key: str | None) -> Plan[list[BatchResult[Hold]]]:
        return batch(_hold_batch, items, key)

    @staticmethod
    def settle_batch(items: Sequence[SettleRequest], key: str | None) -> Plan[list[BatchResult[Settlement]]]:
        return batch(_settle_batch, items, key)

    @staticmethod
    def gas_events(from_: Any, to: Any, service: str | None, org: str | None, limit: int,
                   cursor: str | None) -> Plan[GasEventsPage]:
        params = _clean({"from": _day(from_), "to": _day(to), "service": service, "org": org, "limit": limit,
                         "cursor": cursor})
        return single(Call("GET", "/v1/gas/events", GasEventsPage.parse, params=params))

    @staticmethod
    def gas_stats(by: str, from_: Any, to: Any, org: str | None, service: str | None) -> Plan[GasStats]:
        params = _clean({"by": by, "from": _day(from_), "to": _day(to), "org": org, "service": service})
        return single(Call("GET", "/v1/gas/stats", GasStats.parse, params=params))

    @staticmethod
    def create_key(org: str, role: str, name: str) -> Plan[NewOrgKey]:
        # No Idempotency-Key: the wallet never stores an answer that holds a secret.
        return single(Call("POST", _wallet_path(org, "keys"), NewOrgKey.parse, json={"role": role, "name": name},
                           mutating=True))

    @staticmethod
    def list_keys(org: str) -> Plan[list[OrgKey]]:
        return single(Call("GET", _wallet_path(org, "keys"), _keys))

    @staticmethod
    def revoke_key(org: str, key_id: str) -> Plan[None]:
        return single(Call("DELETE", _wallet_path(org, "keys", key_id), lambda _: None, mutating=True))

    @staticmethod
    def reverse(transaction: int, key: str | None) -> Plan[Reversal]:
        return single(_post(f"/v1/transactions/{int(transaction)}/reversals", Reversal.parse, None, key))

    @staticmethod
    def integrity() -> Plan[Integrity]:
        return single(Call("GET", "/v1/admin/integrity", Integrity.parse))

    @staticmethod
    def healthz() -> Plan[dict[str, Any]]:
        return single(Call("GET", "/healthz", dict))


def _keys(d: Mapping[str, Any]) -> list[OrgKey]:
    return [OrgKey.parse(k) for k in d["keys"]]


class Credential:
    """The bearer token a client sends: read from a file when one is named (`token_file`, else
    TAWA_WALLET_TOKEN_FILE when no token is given) and re-read whenever the file changes — the
    kubelet rotates projected service-account tokens; else the token given (else TAWA_WALLET_TOKEN)."""

    def __init__(self, token: str | None = None, token_file: str | os.PathLike[str] | None = None) -> None:
        self.path = token_file or (client_token_file() if token is None else None)
        self._token = None if self.path else (token if token is not None else client_token())
        self._stamp: tuple[int, int, int] | None = None

    def current(self) -> str | None:
        """The token to send now; a stat per call, a read only when the file changed."""
        if not self.path:
            return self._token
        try:
            info = os.stat(self.path)
            stamp = (info.st_ino, info.st_mtime_ns, info.st_size)
            if stamp != self._stamp:
                with open(self.path, encoding="utf-8") as file:
                    self._token, self._stamp = file.read().strip() or None, stamp
        except OSError as exc:
            if self._token is None:  # never read: nothing to send; a later read keeps the last token
                raise WalletAuthError(0, {"error": "WALLET_TOKEN_FILE_UNREADABLE", "message": (
                    f"TAWA_WALLET_TOKEN_FILE {self.path}: {exc.strerror or exc}")}) from exc
        return self._token


def request_headers(credential: Credential, call: Call[Any]) -> dict[str, str]:
    headers = {"Accept": "application/json", "Content-Type": "application/json"}
    if token := credential.current():
        headers["Authorization"] = f"Bearer {token}"
    if call.idempotency_key:
        headers["Idempotency-Key"] = call.idempotency_key
    return headers


def _in_flight(response: httpx.Response) -> bool:
    return response.status_code == 409 and _body(response).get("error") == "IDEMPOTENCY_IN_FLIGHT"


def request_content(call: Call[Any]) -> bytes | None:
    return None if call.json is None else orjson.dumps(call.json)


def _body(response: httpx.Response) -> dict[str, Any]:
    try:
        data = orjson.loads(response.content)
    except ValueError:
        return {"error": "BAD_RESPONSE", "message": response.text[:200]}
    return data if isinstance(data, dict) else {"data": data}


def _result(call: Call[T], response: httpx.Response) -> T:
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


def unavailable(base_url: str, exc: Exception) -> WalletUnavailable:
    return WalletUnavailable(0, {"error": "WALLET_UNAVAILABLE", "message": f"wallet at {base_url}: {exc!r}"})


# --------------------------------------------------------------------------- plans


def single(call: Call[T], delay: float = 0.0) -> Plan[T]:
    """Send `call` (after `delay` seconds), resending it while the wallet says its key is in flight."""
    response = yield call, delay
    for _ in range(IN_FLIGHT_RETRIES - 1):
        if not _in_flight(response):
            break
        response = yield call, IN_FLIGHT_DELAY
    return _result(call, response)


def batch(make: Callable[[Any, str | None], Call[list[BatchResult[T]]]], items: Sequence[Any],
          key: str | None) -> Plan[list[BatchResult[T]]]:
    """A batch call, then the items whose key's first request was still running, resent (same item
    keys, a new batch key) until each has its own answer."""
    results = yield from single(make(items, key))
    for _ in range(IN_FLIGHT_RETRIES):
        again = [i for i, r in enumerate(results)
                 if r.status == 409 and r.body.get("error") == "IDEMPOTENCY_IN_FLIGHT"]
        if not again:
            break
        answers = yield from single(make([items[i] for i in again], None), IN_FLIGHT_DELAY)
        for i, answer in zip(again, answers, strict=True):
            results[i] = answer
    return results
