"""`WalletClient`: the synchronous client (the operator, the CLI); it sends what `Calls` plans."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypeVar, cast

import httpx

from tawa.names import Grant
from tawa.wallet.client._calls import (
    Calls,
    Credential,
    Plan,
    request_content,
    request_headers,
    unavailable,
)
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
from tawa.wallet.settings import client_url

T = TypeVar("T")


class WalletClient:
    """Synchronous client. `WalletClient()` reads TAWA_WALLET_URL and
    TAWA_WALLET_TOKEN_FILE or TAWA_WALLET_TOKEN (`Credential`)."""

    def __init__(self, base_url: str | None = None, token: str | None = None, *, timeout: float = 10.0,
                 transport: httpx.BaseTransport | None = None,
                 token_file: str | os.PathLike[str] | None = None) -> None:
        self.base_url = (base_url or client_url()).rstrip("/")
        self.credential = Credential(token, token_file)
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout, transport=transport)

    def __enter__(self) -> WalletClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _run(self, plan: Plan[T]) -> T:
        """Send what the plan asks for until it has its answer."""
        try:
            call, delay = next(plan)
            while True:
                if delay:
                    time.sleep(delay)
                try:
                    response = self._http.request(call.method, call.path, content=request_content(call),
                                                  params=call.params, headers=request_headers(self.credential, call))
                except httpx.HTTPError as exc:
                    raise unavailable(self.base_url, exc) from exc
                call, delay = plan.send(response)
        except StopIteration as done:
            return cast(T, done.value)

    def create_wallet(self, org: str, *, idempotency_key: str | None = None) -> Wallet:
        return self._run(Calls.create_wallet(org, idempotency_key))

    def get_wallet(self, org: str) -> Wallet:
        return self._run(Calls.get_wallet(org))

    def ledger(self, org: str, *, limit: int = 50, cursor: str | None = None, from_: str | datetime | None = None,
               to: str | datetime | None = None) -> LedgerPage:
        return self._run(Calls.ledger(org, limit, cursor, from_, to))

    def purchase(self, org: str, tokens: int, *, idempotency_key: str | None = None) -> Charge:
        return self._run(Calls.purchase(org, tokens, idempotency_key))

    def check_reserve(self, org: str, tier: str, replicas: int = 1, *,
                      idempotency_key: str | None = None) -> ReserveCheck:
        return self._run(Calls.check_reserve(org, tier, replicas, idempotency_key))

    def hosting_charge(self, org: str, component: str, hour: str | datetime, tokens: int, *,
                       tier: str | None = None, pods: int | None = None, service: str | None = None,
                       idempotency_key: str | None = None) -> Charge:
        return self._run(Calls.hosting_charge(org, component, hour, tokens, tier, pods, service, idempotency_key))

    def get_bill_grants(self, org: str) -> BillGrants:
        return self._run(Calls.get_bill_grants(org))

    def put_bill_grants(self, org: str, grants: Sequence[Grant]) -> BillGrants:
        return self._run(Calls.put_bill_grants(org, grants))

    def hold(self, org: str, tokens: int, ttl_seconds: int = 300, *, idempotency_key: str | None = None) -> Hold:
        return self._run(Calls.hold(org, tokens, ttl_seconds, idempotency_key))

    def settle(self, hold: str, provider: str, tokens: int, *, service: str, route: str, method: str,
               request_id: str, idempotency_key: str | None = None) -> Settlement:
        return self._run(Calls.settle(hold, provider, tokens, service, route, method, request_id, idempotency_key))

    def release(self, hold: str, *, idempotency_key: str | None = None) -> Hold:
        return self._run(Calls.release(hold, idempotency_key))

    def hold_batch(self, items: Sequence[HoldRequest], *,
                   idempotency_key: str | None = None) -> list[BatchResult[Hold]]:
        return self._run(Calls.hold_batch(items, idempotency_key))

    def settle_batch(self, items: Sequence[SettleRequest], *,
                     idempotency_key: str | None = None) -> list[BatchResult[Settlement]]:
        return self._run(Calls.settle_batch(items, idempotency_key))


    def gas_events(self, *, from_: str | datetime | None = None, to: str | datetime | None = None,
                   service: str | None = None, org: str | None = None, limit: int = 100,
                   cursor: str | None = None) -> GasEventsPage:
        return self._run(Calls.gas_events(from_, to, service, org, limit, cursor))

    def gas_stats(self, *, by: str = "day", from_: str | datetime | None = None, to: str | datetime | None = None,
                  org: str | None = None, service: str | None = None) -> GasStats:
        return self._run(Calls.gas_stats(by, from_, to, org, service))

    def create_key(self, org: str, role: str, name: str = "") -> NewOrgKey:
        return self._run(Calls.create_key(org, role, name))

    def list_keys(self, org: str) -> list[OrgKey]:
        return self._run(Calls.list_keys(org))

    def revoke_key(self, org: str, key_id: str) -> None:
        self._run(Calls.revoke_key(org, key_id))

    def reverse(self, transaction: int, *, idempotency_key: str | None = None) -> Reversal:
        """Admin only: post the compensating transaction of `transaction` (once; a retry with the
        same key answers the same)."""
        return self._run(Calls.reverse(transaction, idempotency_key))

    def integrity(self) -> Integrity:
        return self._run(Calls.integrity())

    def healthz(self) -> dict[str, Any]:
        return self._run(Calls.healthz())
