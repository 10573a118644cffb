"""Janus and the real wallet: who is charged, how much, and when nothing is.

One wallet, upstream and Janus serve the module; every test pays with orgs of
its own, and the providers' (shared) earnings are compared before and after.
"""

from __future__ import annotations

import concurrent.futures
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import pytest

from tawa.names import Grant
from tests.fixtures.janus import (
    JanusProcess,
    RecordingUpstream,
    all_gas_events,
    unique_org,
    wait_until,
)
from tests.fixtures.wallet import WalletServer
from tests.integration.janus_module_fixtures import janus, upstream, wallet  # noqa: F401


@dataclass(frozen=True)
class Orgs:
    wallet: WalletServer
    acme: str  # 1000 purchased
    bigcorp: str  # 1000 purchased
    introonly: str  # only its 50,000 intro tokens

    def purchased(self, org: str) -> int:
        return self.wallet.client.get_wallet(org).balances.purchased

    def earned(self, org: str) -> int:
        return self.wallet.client.get_wallet(org).balances.earned

    def settled(self, org: str, tokens: int) -> None:
        wait_until(lambda: self.purchased(org) == tokens, what=f"{org} purchased == {tokens}")

    def holds(self, org: str) -> list[str]:
        page = self.wallet.client.ledger(org, limit=200)
        return [t.type for t in page.transactions if t.type in ("hold", "release", "expiry")]

    def events(self, org: str) -> list[object]:
        return all_gas_events(self.wallet.client, org=org)


@pytest.fixture
def orgs(wallet: WalletServer) -> Orgs:
    names = Orgs(wallet, unique_org("acme"), unique_org("bigcorp"), unique_org("introonly"))
    for org in (names.acme, names.bigcorp, names.introonly, "insureco", "legacyco"):
        wallet.client.create_wallet(org)  # providers: a repeat returns the existing wallet
    wallet.client.purchase(names.acme, 1000)
    wallet.client.purchase(names.bigcorp, 1000)
    return names


def test_2xx_debits_the_caller_and_credits_the_provider(janus: JanusProcess, orgs: Orgs) -> None:
    earned_before = orgs.earned("insureco")
    ids = []
    for _ in range(3):
        r = httpx.post(janus.proxy("docman", "/documents"), headers=janus.auth(orgs.acme, "quoter"))
        assert r.status_code == 200
        ids.append(r.headers["X-Request-ID"])
    orgs.settled(orgs.acme, 1000 - 15)
    assert orgs.earned("insureco") == earned_before + 15
    events = orgs.events(orgs.acme)
    assert sorted(e.request_id for e in events) == sorted(ids)  # type: ignore[attr-defined]
    assert {(e.service, e.route, e.method, e.tokens, e.provider) for e in events} == {  # type: ignore[attr-defined]
        ("docman", "/documents", "POST", 5, "wallet-insureco")}


def test_platform_table_and_default_prices(janus: JanusProcess, orgs: Orgs) -> None:
    # legacy-quotes has no routes: POST /quotes is 2 in the platform table, anything else the default 1.
    assert httpx.post(janus.proxy("legacy-quotes", "/quotes"), headers=janus.auth(orgs.acme)).status_code == 200
    assert httpx.get(janus.proxy("legacy-quotes", "/other"), headers=janus.auth(orgs.acme)).status_code == 200
    orgs.settled(orgs.acme, 1000 - 3)


def test_insufficient_gas_is_402_with_org_price_and_balance(janus: JanusProcess, orgs: Orgs,
                                                            upstream: RecordingUpstream) -> None:
    r = httpx.post(janus.proxy("docman", "/documents"), headers=janus.auth(orgs.introonly, "quoter"))
    assert r.status_code == 402
    body = r.json()
    assert body["error"] == "INSUFFICIENT_GAS"
    assert (body["org"], body["price"], body["available"]) == (orgs.introonly, 5, 0)  # intro never pays API gas
    assert orgs.introonly in body["message"] and body["message"].endswith(".")
    assert upstream.seen == []
    assert orgs.wallet.client.get_wallet(orgs.introonly).balances.intro == 50_000
    nowallet = unique_org("nowallet")
    r = httpx.post(janus.proxy("docman", "/documents"), headers=janus.auth(nowallet))
    assert r.status_code == 402 and r.json()["org"] == nowallet


def test_public_and_free_routes_touch_no_wallet(janus: JanusProcess, orgs: Orgs) -> None:
    assert httpx.get(janus.proxy("docman", "/d/tok"), headers=janus.auth(orgs.acme)).status_code == 200
    assert httpx.get(janus.proxy("docman", "/health"), headers=janus.auth(orgs.acme, "quoter")).status_code == 200
    time.sleep(0.3)
    assert orgs.purchased(orgs.acme) == 1000
    assert orgs.holds(orgs.acme) == []
    assert orgs.events(orgs.acme) == []


def test_failures_are_never_charged(janus: JanusProcess, orgs: Orgs) -> None:
    auth = janus.auth(orgs.acme, "quoter")
    statuses = [httpx.post(janus.proxy("docman", f"/documents?status={s}"), headers=auth).status_code
                for s in (400, 404, 409, 500, 503)]
    assert statuses == [400, 404, 409, 500, 503]
    timeout = httpx.post(janus.proxy("docman", "/documents?delay=3"), headers=auth, timeout=10)
    assert timeout.status_code == 504 and timeout.json()["error"] == "UPSTREAM_TIMEOUT"
    redirect = httpx.post(janus.proxy("docman", "/documents?status=302"), headers=auth)
    assert redirect.status_code == 302
    time.sleep(0.5)
    assert orgs.purchased(orgs.acme) == 1000
    assert orgs.events(orgs.acme) == []


def test_bill_org_without_grant_is_403_and_leaves_the_org_alone(janus: JanusProcess, orgs: Orgs,
                                                                upstream: RecordingUpstream) -> None:
    r = httpx.post(janus.proxy("docman", "/documents"),
                   headers={**janus.auth(orgs.acme, "quoter"), "X-Bill-Org": orgs.bigcorp})
    assert r.status_code == 403
    assert r.json()["error"] == "BILL_ORG_NOT_GRANTED" and r.json()["org"] == orgs.bigcorp
    assert upstream.seen == []
    time.sleep(0.3)
    assert orgs.purchased(orgs.bigcorp) == 1000 and orgs.purchased(orgs.acme) == 1000
    assert orgs.holds(orgs.bigcorp) == [] and orgs.holds(orgs.acme) == []


def test_bill_org_with_grant_charges_that_org(janus: JanusProcess, orgs: Orgs, upstream: RecordingUpstream) -> None:
    orgs.wallet.client.put_bill_grants(orgs.bigcorp, [Grant(orgs.acme, "quoter")])
    r = httpx.post(janus.proxy("docman", "/documents"),
                   headers={**janus.auth(orgs.acme, "quoter"), "X-Bill-Org": orgs.bigcorp})
    assert r.status_code == 200
    assert upstream.last.header("X-Caller-Org") == orgs.bigcorp
    orgs.settled(orgs.bigcorp, 995)
    assert orgs.purchased(orgs.acme) == 1000
    # Another service of the same program is not covered by the grant.
    r = httpx.post(janus.proxy("docman", "/documents"),
                   headers={**janus.auth(orgs.acme, "rater"), "X-Bill-Org": orgs.bigcorp})
    assert r.status_code == 403


@pytest.mark.parametrize("workers", [1, 2])
def test_concurrent_callers_on_a_small_balance_never_overspend(
        workers: int, janus_factory: Callable[..., JanusProcess], orgs: Orgs) -> None:
    small = unique_org("small")
    orgs.wallet.client.create_wallet(small)
    orgs.wallet.client.purchase(small, 52)  # ten calls at 5, with 2 left over
    janus = janus_factory(args=["--workers", str(workers)])
    auth = janus.auth(small, "quoter")

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
    assert orgs.purchased(small) == 52 - 5 * ok >= 0
    assert orgs.wallet.client.get_wallet(small).held == 0
    assert len(orgs.events(small)) == ok


def test_a_wallet_refusing_janus_is_503_not_a_free_pass(janus_factory: Callable[..., JanusProcess], orgs: Orgs,
                                                        upstream: RecordingUpstream) -> None:
    janus = janus_factory(env={"TAWA_WALLET_TOKEN": "not-the-wallet-token"})
    r = httpx.post(janus.proxy("docman", "/documents"), headers=janus.auth(orgs.acme, "quoter"))
    assert r.status_code == 503 and r.json()["error"] == "WALLET_REFUSED"
    assert upstream.seen == []
