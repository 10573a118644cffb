"""The client's own behaviour, against a scripted transport: typed errors, retries of
requests still in flight, and what it sends."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from tawa.names import InvalidName
from tawa.wallet import client as wc

IN_FLIGHT = {"error": "IDEMPOTENCY_IN_FLIGHT", "message": "still running", "field": "Idempotency-Key"}
HOLD = {"id": "hold-1", "wallet": "wallet-a", "tokens": 5, "remaining": 5, "settled": 0, "released": 0,
        "status": "open", "expiresAt": "2026-01-01T00:05:00Z", "createdAt": "2026-01-01T00:00:00Z"}


def scripted(answers: list[tuple[int, Any]], seen: list[httpx.Request]) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        status, body = answers.pop(0)
        return httpx.Response(status, json=body)

    return handler


@pytest.mark.parametrize(("status", "body", "kind"), [
    (404, {"error": "WALLET_NOT_FOUND"}, wc.WalletNotFound),
    (404, {"error": "HOLD_NOT_FOUND"}, wc.HoldNotFound),
    (402, {"error": "INSUFFICIENT_GAS", "required": 9, "available": 2, "wallet": "wallet-a"}, wc.InsufficientGas),
    (409, {"error": "HOLD_EXPIRED"}, wc.HoldClosed),
    (409, {"error": "HOLD_RELEASED"}, wc.HoldClosed),
    (422, {"error": "IDEMPOTENCY_KEY_REUSED"}, wc.IdempotencyConflict),
    (409, IN_FLIGHT, wc.IdempotencyConflict),
    (422, {"error": "INVALID_AMOUNT", "field": "tokens"}, wc.InvalidRequest),
    (400, {"error": "IDEMPOTENCY_KEY_REQUIRED"}, wc.InvalidRequest),
    (401, {"error": "UNAUTHENTICATED"}, wc.WalletAuthError),
    (403, {"error": "FORBIDDEN"}, wc.WalletAuthError),
    (500, {"error": "INTERNAL"}, wc.WalletUnavailable),
    (503, {"error": "DATABASE_UNAVAILABLE"}, wc.WalletUnavailable),
])
def test_every_refusal_has_its_type(status: int, body: dict[str, Any], kind: type[wc.WalletError]) -> None:
    err = wc.error_for(status, body)
    assert type(err) is kind and isinstance(err, wc.WalletError)
    assert (err.status, err.body, err.code) == (status, body, body["error"])
    if isinstance(err, wc.InsufficientGas):
        assert (err.required, err.available, err.wallet) == (9, 2, "wallet-a")


def test_a_request_still_in_flight_is_retried_with_the_same_key() -> None:
    seen: list[httpx.Request] = []
    transport = httpx.MockTransport(scripted([(409, IN_FLIGHT), (409, IN_FLIGHT), (201, HOLD)], seen))
    with wc.WalletClient("http://wallet", "tok", transport=transport) as client:
        hold = client.hold("a", 5, idempotency_key="k1")
    assert hold.id == "hold-1" and hold.expires_at == datetime(2026, 1, 1, 0, 5, tzinfo=UTC)
    assert [r.headers["Idempotency-Key"] for r in seen] == ["k1"] * 3
    assert seen[0].headers["Authorization"] == "Bearer tok"
    assert json.loads(seen[0].content) == {"wallet": "wallet-a", "tokens": 5, "ttlSeconds": 300}


def test_every_mutation_gets_a_fresh_key_unless_given_one() -> None:
    seen: list[httpx.Request] = []
    transport = httpx.MockTransport(scripted([(201, HOLD), (201, HOLD)], seen))
    with wc.WalletClient("http://wallet", "tok", transport=transport) as client:
        client.hold("a", 5)
        client.hold("a", 5)
    keys = [r.headers["Idempotency-Key"] for r in seen]
    assert len(set(keys)) == 2 and all(len(k) == 36 for k in keys)


def test_async_batch_resends_only_the_items_still_in_flight() -> None:
    settled = {"transaction": 7, "hold": "hold-1", "wallet": "wallet-a", "provider": "wallet-b", "tokens": 1,
               "remaining": 4, "paidFrom": {"purchased": 1}}
    first = {"results": [{"key": "s1", "status": 200, "body": settled},
                         {"key": "s2", "status": 409, "body": IN_FLIGHT},
                         {"key": "s3", "status": 402, "body": {"error": "INSUFFICIENT_GAS", "required": 1,
                                                               "available": 0}}]}
    second = {"results": [{"key": "s2", "status": 200, "body": settled | {"transaction": 8}}]}
    seen: list[httpx.Request] = []
    transport = httpx.MockTransport(scripted([(200, first), (200, second)], seen))
    items = [wc.SettleRequest("hold-1", "b", 1, "svc", "/r", "GET", f"r{i}", key=f"s{i}") for i in (1, 2, 3)]

    async def go() -> list[wc.BatchResult[wc.Settlement]]:
        async with wc.AsyncWalletClient("http://wallet", "tok", transport=transport) as client:
            return await client.settle_batch(items)

    results = asyncio.run(go())
    assert [r.status for r in results] == [200, 200, 402]
    assert [r.value.transaction for r in results[:2]] == [7, 8]  # type: ignore[union-attr]
    assert isinstance(results[2].error, wc.InsufficientGas) and not results[2].ok
    assert [i["key"] for i in json.loads(seen[1].content)["items"]] == ["s2"]
    assert json.loads(seen[0].content)["items"][0]["provider"] == "wallet-b"


def test_only_a_real_outage_is_wallet_unavailable() -> None:
    """Finding 4: an odd answer was taken for an outage, and Janus failed open on it."""
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(wc.WalletUnavailable) as exc:
        wc.WalletClient("http://wallet", "t", transport=httpx.MockTransport(refuse)).get_wallet("a")
    assert exc.value.status == 0
    for status, content in ((200, b"<html>"), (200, b'{"unexpected": 1}'), (302, b"")):
        answer = httpx.MockTransport(lambda r, s=status, c=content: httpx.Response(s, content=c))
        with pytest.raises(wc.BadWalletAnswer) as bad:
            wc.WalletClient("http://wallet", "t", transport=answer).get_wallet("a")
        assert not isinstance(bad.value, wc.WalletUnavailable)
    odd_4xx = httpx.MockTransport(lambda r: httpx.Response(418, json={"error": "TEAPOT"}))
    with pytest.raises(wc.InvalidRequest):
        wc.WalletClient("http://wallet", "t", transport=odd_4xx).get_wallet("a")
    down = httpx.MockTransport(lambda r: httpx.Response(503, content=b"busy"))
    with pytest.raises(wc.WalletUnavailable):
        wc.WalletClient("http://wallet", "t", transport=down).get_wallet("a")


@pytest.mark.parametrize("org", ["wallet-victim", "victim?a=1", "x/../../admin/integrity?1", "victim%2f..%2f",
                                 "Victim"])
def test_the_client_takes_only_org_slugs_and_never_builds_another_path(org: str) -> None:
    """Findings 3 and 4: a wallet id or a crafted org never reaches the wallet as a path or query."""
    seen: list[httpx.Request] = []
    with wc.WalletClient("http://wallet", "t", transport=httpx.MockTransport(scripted([], seen))) as c:
        for call in (lambda: c.get_wallet(org), lambda: c.purchase(org, 1), lambda: c.get_bill_grants(org),
                     lambda: c.hold(org, 1)):
            with pytest.raises(InvalidName):
                call()
    assert seen == []


def test_hold_ids_are_quoted_into_one_path_segment() -> None:
    seen: list[httpx.Request] = []
    with wc.WalletClient("http://wallet", "t", transport=httpx.MockTransport(scripted([(200, HOLD)], seen))) as c:
        c.release("../wallets/wallet-a?x=1")
    assert seen[0].url.raw_path == b"/v1/holds/..%2Fwallets%2Fwallet-a%3Fx%3D1/release"


def test_hosting_charge_sends_the_utc_hour() -> None:
    seen: list[httpx.Request] = []
    charge = {"transaction": {"id": 1, "type": "hosting_charge", "time": None, "wallet": "wallet-a",
                              "counterparty": None, "amount": 5, "hold": None, "details": {}, "entries": []},
              "wallet": {"id": "wallet-a", "org": "a", "balances": {"intro": 1, "purchased": 0, "earned": 0},
                         "held": 0, "total": 1, "available": {"hosting": 1, "api": 0}}}
    with wc.WalletClient("http://wallet", "t", transport=httpx.MockTransport(scripted([(201, charge)], seen))) as c:
        c.hosting_charge("a", "docman", datetime(2026, 3, 1, 7, 42, 9, tzinfo=UTC), 5, tier="nano", pods=1,
                         idempotency_key="hosting/uid/2026-03-01T07:00:00Z")
    assert json.loads(seen[0].content) == {"component": "docman", "hour": "2026-03-01T07:00:00Z", "tokens": 5,
                                           "tier": "nano", "pods": 1}
    assert seen[0].url.path == "/v1/wallets/wallet-a/hosting-charges"
