"""Janus and the real wallet: who is charged, how much, and when nothing is."""

from __future__ import annotations

import concurrent.futures
import time
from collections.abc import Callable

import httpx
import pytest

from tests.fixtures.janus import (
    JanusProcess,
    RecordingUpstream,
    all_gas_events,
    wait_until,
)
from tests.fixtures.wallet import WalletServer


def purchased(wallet: WalletServer, org: str) -> int:
    return wallet.client.get_wallet(org).balances.purchased


def earned(wallet: WalletServer, org: str) -> int:
    return wallet.client.get_wallet(org).balances.earned


def hold_transactions(wallet: WalletServer, org: str) -> list[str]:
    page = wallet.client.ledger(org, limit=200)
    return [t.type for t in page.transactions if t.type in ("hold", "release", "expiry")]


@pytest.fixture
def orgs(wallet: WalletServer) -> WalletServer:
    for org in ("acme", "insureco", "legacyco", "bigcorp", "introonly"):
        wallet.client.create_wallet(org)
    wallet.client.purchase("acme", 1000)
    wallet.client.purchase("bigcorp", 1000)
    return wallet


def settled(wallet: WalletServer, org: str, tokens: int) -> None:
    wait_until(lambda: purchased(wallet, org) == tokens, what=f"{org} purchased == {tokens}")


def test_2xx_debits_the_caller_and_credits_the_provider(janus: JanusProcess, orgs: WalletServer) -> None:
    ids = []
    for _ in range(3):
        r = httpx.post(janus.proxy("docman", "/documents"), headers=janus.auth("acme", "quoter"))
        assert r.status_code == 200
        ids.append(r.headers["X-Request-ID"])
    settled(orgs, "acme", 1000 - 15)
    assert earned(orgs, "insureco") == 15
    events = all_gas_events(orgs.client, org="acme")
    assert sorted(e.request_id for e in events) == sorted(ids)
    assert {(e.service, e.route, e.method, e.tokens, e.provider) for e in events} == {
        ("docman", "/documents", "POST", 5, "wallet-insureco")}


def test_platform_table_and_default_prices(janus: JanusProcess, orgs: WalletServer) -> None:
    # legacy-quotes has no routes: POST /quotes is 2 in the platform table, anything else the default 1.
    assert httpx.post(janus.proxy("legacy-quotes", "/quotes"), headers=janus.auth("acme")).status_code == 200
    assert httpx.get(janus.proxy("legacy-quotes", "/other"), headers=janus.auth("acme")).status_code == 200
    settled(orgs, "acme", 1000 - 3)


def test_insufficient_gas_is_402_with_org_price_and_balance(janus: JanusProcess, orgs: WalletServer,
                                                            upstream: RecordingUpstream) -> None:
    r = httpx.post(janus.proxy("docman", "/documents"), headers=janus.auth("introonly", "quoter"))
    assert r.status_code == 402
    body = r.json()
    assert body["error"] == "INSUFFICIENT_GAS"
    assert (body["org"], body["price"], body["available"]) == ("introonly", 5, 0)  # intro never pays API gas
    assert "introonly" in body["message"] and body["message"].endswith(".")
    assert upstream.seen == []
    assert orgs.client.get_wallet("introonly").balances.intro == 50_000
    r = httpx.post(janus.proxy("docman", "/documents"), headers=janus.auth("nowallet"))
    assert r.status_code == 402 and r.json()["org"] == "nowallet"


def test_public_and_free_routes_touch_no_wallet(janus: JanusProcess, orgs: WalletServer) -> None:
    assert httpx.get(janus.proxy("docman", "/d/tok")).status_code == 200
    assert httpx.get(janus.proxy("docman", "/health"), headers=janus.auth("acme", "quoter")).status_code == 200
    time.sleep(0.3)
    assert purchased(orgs, "acme") == 1000
    assert hold_transactions(orgs, "acme") == []
    assert all_gas_events(orgs.client) == []


def test_failures_are_never_charged(janus: JanusProcess, orgs: WalletServer) -> None:
    auth = janus.auth("acme", "quoter")
    statuses = [httpx.post(janus.proxy("docman", f"/documents?status={s}"), headers=auth).status_code
                for s in (400, 404, 409, 500, 503)]
    assert statuses == [400, 404, 409, 500, 503]
    timeout = httpx.post(janus.proxy("docman", "/documents?delay=3"), headers=auth, timeout=10)
    assert timeout.status_code == 504 and timeout.json()["error"] == "UPSTREAM_TIMEOUT"
    redirect = httpx.post(janus.proxy("docman", "/documents?status=302"), headers=auth)
    assert redirect.status_code == 302
    time.sleep(0.5)
    assert purchased(orgs, "acme") == 1000
    assert all_gas_events(orgs.client) == []


def test_bill_org_without_grant_is_403_and_leaves_the_org_alone(janus: JanusProcess, orgs: WalletServer,
                                                                upstream: RecordingUpstream) -> None:
    r = httpx.post(janus.proxy("docman", "/documents"),
                   headers={**janus.auth("acme", "quoter"), "X-Bill-Org": "bigcorp"})
    assert r.status_code == 403
    assert r.json()["error"] == "BILL_ORG_NOT_GRANTED" and r.json()["org"] == "bigcorp"
    assert upstream.seen == []
    time.sleep(0.3)
    assert purchased(orgs, "bigcorp") == 1000 and purchased(orgs, "acme") == 1000
    assert hold_transactions(orgs, "bigcorp") == [] and hold_transactions(orgs, "acme") == []


def test_bill_org_with_grant_charges_that_org(janus: JanusProcess, orgs: WalletServer,
                                              upstream: RecordingUpstream) -> None:
    orgs.client.put_bill_grants("bigcorp", ["quoter"])
    r = httpx.post(janus.proxy("docman", "/documents"),
                   headers={**janus.auth("acme", "quoter"), "X-Bill-Org": "bigcorp"})
    assert r.status_code == 200
    assert upstream.last.header("X-Caller-Org") == "bigcorp"
    settled(orgs, "bigcorp", 995)
    assert purchased(orgs, "acme") == 1000
    # Another service of the same program is not covered by the grant.
    r = httpx.post(janus.proxy("docman", "/documents"),
                   headers={**janus.auth("acme", "rater"), "X-Bill-Org": "bigcorp"})
    assert r.status_code == 403


@pytest.mark.parametrize("workers", [1, 2])
def test_concurrent_callers_on_a_small_balance_never_overspend(
        workers: int, janus_factory: Callable[..., JanusProcess], orgs: WalletServer) -> None:
    orgs.client.create_wallet("small")
    orgs.client.purchase("small", 52)  # ten calls at 5, with 2 left over
    janus = janus_factory(args=["--workers", str(workers)])
    auth = janus.auth("small", "quoter")

    def call(_: int) -> int:
        with httpx.Client(timeout=30) as client:
            return client.post(janus.proxy("docman", "/documents"), headers=auth).status_code

    with concurrent.futures.ThreadPoolExecutor(24) as pool:
        statuses = list(pool.map(call, range(60)))
    ok = statuses.count(200)
    assert set(statuses) <= {200, 402}
    assert 1 <= ok <= 10
    if workers == 1:
        assert ok == 10  # one worker's holds see the whole balance
    janus.stop()  # settle and release everything
    assert purchased(orgs, "small") == 52 - 5 * ok >= 0
    assert orgs.client.get_wallet("small").held == 0
    assert len(all_gas_events(orgs.client, org="small")) == ok
