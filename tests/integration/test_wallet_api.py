"""The wallet's HTTP contract (docs/design.md), checked against a real server on SQLite."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tawa.names import Grant
from tawa.names import org_of_wallet as org_of
from tawa.wallet.client import (
    HoldClosed,
    HoldRequest,
    IdempotencyConflict,
    InsufficientGas,
    InvalidRequest,
    SettleRequest,
    WalletAuthError,
    WalletClient,
    WalletNotFound,
    WalletUnavailable,
)
from tests.fixtures.wallet import WalletServer


@pytest.fixture
def server(module_wallet: WalletServer) -> WalletServer:
    return module_wallet


@pytest.fixture
def http(server: WalletServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {server.token}"}) as c:
        yield c


def org() -> str:
    return f"o{uuid.uuid4().hex[:10]}"


def post(http: httpx.Client, path: str, body: Any = None, key: str | None = "new", **kw: Any) -> httpx.Response:
    headers = {"Idempotency-Key": uuid.uuid4().hex if key == "new" else key} if key else {}
    return http.post(path, json=body, headers=headers, **kw)


def funded(client: WalletClient, purchased: int = 0) -> str:
    name = org()
    client.create_wallet(name)
    if purchased:
        client.purchase(name, purchased)
    return f"wallet-{name}"


# ---------------------------------------------------------------- wallets


def test_create_grants_50000_intro_exactly_once(http: httpx.Client) -> None:
    name = org()
    first = post(http, "/v1/wallets", {"org": name})
    assert first.status_code == 201
    assert first.json() == {"id": f"wallet-{name}", "org": name,
                            "balances": {"intro": 50_000, "purchased": 0, "earned": 0}, "held": 0,
                            "total": 50_000, "available": {"hosting": 50_000, "api": 0}}
    again = post(http, "/v1/wallets", {"org": name})
    assert again.status_code == 200 and again.json()["total"] == 50_000
    grants = [t for t in http.get(f"/v1/wallets/wallet-{name}/ledger").json()["transactions"]
              if t["type"] == "intro_grant"]
    assert len(grants) == 1


@pytest.mark.parametrize("bad", ["", "UPPER", "-x", "x-", "a_b", "a" * 64, 5, None])
def test_create_refuses_org_that_is_not_a_dns_label(http: httpx.Client, bad: Any) -> None:
    r = post(http, "/v1/wallets", {"org": bad})
    assert r.status_code == 422 and r.json()["field"] == "org"


def test_unknown_wallet_is_404_everywhere(http: httpx.Client) -> None:
    wid = f"wallet-{org()}"
    for r in (http.get(f"/v1/wallets/{wid}"), http.get(f"/v1/wallets/{wid}/ledger"),
              http.get(f"/v1/wallets/{wid}/bill-grants"), http.put(f"/v1/wallets/{wid}/bill-grants",
                                                                   json={"grants": []}),
              post(http, f"/v1/wallets/{wid}/purchases", {"tokens": 5}),
              post(http, f"/v1/wallets/{wid}/check-reserve", {"tier": "nano", "replicas": 1}),
              post(http, f"/v1/wallets/{wid}/hosting-charges", {"component": "c", "hour": "h", "tokens": 5}),
              post(http, "/v1/holds", {"wallet": wid, "tokens": 5, "ttlSeconds": 60})):
        assert r.status_code == 404, r.text
        assert r.json()["error"] == "WALLET_NOT_FOUND" and r.json()["message"]


def test_purchase_credits_purchased_and_shows_in_ledger(server: WalletServer) -> None:
    c = server.client
    wid = funded(c)
    charge = c.purchase(org_of(wid), 10_000)
    assert charge.wallet.balances.purchased == 10_000 and charge.wallet.total == 60_000
    assert {(e.account, e.amount) for e in charge.transaction.entries} == {
        ("platform:purchases", -10_000), (f"{wid}:purchased", 10_000)}
    assert c.ledger(org_of(wid)).transactions[0].type == "purchase"


# ---------------------------------------------------------------- bad input


BAD_AMOUNTS = [0, -1, 1.5, 10.0, "100", True, None, [], {}, 2**53 + 1, 10**30]


@pytest.mark.parametrize("amount", BAD_AMOUNTS)
def test_bad_amounts_are_422_naming_tokens_and_change_nothing(server: WalletServer, http: httpx.Client,
                                                             amount: Any) -> None:
    wid = funded(server.client, 1_000)
    before = http.get(f"/v1/wallets/{wid}").json()
    hold = server.client.hold(org_of(wid), 100)
    for path, body in ((f"/v1/wallets/{wid}/purchases", {"tokens": amount}),
                       (f"/v1/wallets/{wid}/hosting-charges", {"component": "c", "hour": "h", "tokens": amount}),
                       ("/v1/holds", {"wallet": wid, "tokens": amount}),
                       (f"/v1/holds/{hold.id}/settle", {"provider": wid, "tokens": amount, "service": "s",
                                                        "route": "/", "method": "GET", "requestId": "r"})):
        r = post(http, path, body)
        assert r.status_code == 422, (path, r.text)
        assert r.json()["field"] == "tokens" and "tokens" in r.json()["message"]
    server.client.release(hold.id)
    assert http.get(f"/v1/wallets/{wid}").json() == before


def test_missing_token_field_and_malformed_json(server: WalletServer, http: httpx.Client) -> None:
    wid = funded(server.client)
    r = post(http, f"/v1/wallets/{wid}/purchases", {})
    assert r.status_code == 422 and r.json() | {"message": ""} == {
        "error": "MISSING_FIELD", "field": "tokens", "message": ""}
    r = http.post(f"/v1/wallets/{wid}/purchases", content=b'{"tokens": 5',
                  headers={"Idempotency-Key": "k" + uuid.uuid4().hex, "Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["error"] == "INVALID_JSON"
    r = post(http, "/v1/settlements/batch", None)
    assert r.status_code == 400 and r.json()["error"] == "INVALID_JSON"
    assert http.get(f"/v1/wallets/{wid}").json()["balances"]["purchased"] == 0


def test_missing_idempotency_key_is_400_naming_the_header(server: WalletServer, http: httpx.Client) -> None:
    wid = funded(server.client, 100)
    hold = server.client.hold(org_of(wid), 10)
    for path, body in (("/v1/wallets", {"org": org()}), (f"/v1/wallets/{wid}/purchases", {"tokens": 5}),
                       (f"/v1/wallets/{wid}/check-reserve", {"tier": "nano"}),
                       (f"/v1/wallets/{wid}/hosting-charges", {"component": "c", "hour": "h", "tokens": 1}),
                       ("/v1/holds", {"wallet": wid, "tokens": 1}),
                       (f"/v1/holds/{hold.id}/settle", {"provider": wid, "tokens": 1, "service": "s", "route": "/",
                                                        "method": "GET", "requestId": "r"}),
                       (f"/v1/holds/{hold.id}/release", None),
                       ("/v1/holds/batch", {"items": []}), ("/v1/settlements/batch", {"items": []})):
        r = post(http, path, body, key=None)
        assert r.status_code == 400, (path, r.text)
        assert r.json()["error"] == "IDEMPOTENCY_KEY_REQUIRED" and r.json()["field"] == "Idempotency-Key"
    assert http.get(f"/v1/wallets/{wid}").json()["balances"]["purchased"] == 100


# ---------------------------------------------------------------- idempotency


def test_replay_returns_first_answer_and_other_body_is_422(server: WalletServer, http: httpx.Client) -> None:
    wid = funded(server.client)
    first = post(http, f"/v1/wallets/{wid}/purchases", {"tokens": 700}, key="buy-" + wid)
    again = post(http, f"/v1/wallets/{wid}/purchases", {"tokens": 700}, key="buy-" + wid)
    assert (again.status_code, again.json()) == (first.status_code, first.json()) == (201, first.json())
    assert "Idempotent-Replayed" not in first.headers and again.headers["Idempotent-Replayed"] == "true"
    other = post(http, f"/v1/wallets/{wid}/purchases", {"tokens": 701}, key="buy-" + wid)
    assert other.status_code == 422 and other.json()["error"] == "IDEMPOTENCY_KEY_REUSED"
    assert http.get(f"/v1/wallets/{wid}").json()["balances"]["purchased"] == 700
    with pytest.raises(IdempotencyConflict):
        server.client.purchase(org_of(wid), 702, idempotency_key="buy-" + wid)


def test_a_refused_request_is_evaluated_again_on_retry(server: WalletServer) -> None:
    """An unpaid hosting hour is retried with the same key after a purchase, and then charged."""
    c = server.client
    wid = funded(c)
    key = f"hosting/uid-{wid}/2026-01-01T00:00:00Z"
    with pytest.raises(InsufficientGas) as refused:
        c.hosting_charge(org_of(wid), "docman", "2026-01-01T00:00:00Z", 60_000, idempotency_key=key)
    assert (refused.value.required, refused.value.available) == (60_000, 50_000)
    c.purchase(org_of(wid), 10_000)
    paid = c.hosting_charge(org_of(wid), "docman", "2026-01-01T00:00:00Z", 60_000, idempotency_key=key)
    assert paid.wallet.total == 0 and not paid.replayed
    again = c.hosting_charge(org_of(wid), "docman", "2026-01-01T00:00:00Z", 60_000, idempotency_key=key)
    assert again == paid and again.replayed


# ---------------------------------------------------------------- check-reserve and hosting


@pytest.mark.parametrize(("tier", "ok", "shortfall"), [("nano", True, 0), ("small", True, 0),
                                                       ("medium", False, 370), ("xlarge", False, 131_770)])
def test_check_reserve_with_only_intro_tokens(server: WalletServer, tier: str, ok: bool, shortfall: int) -> None:
    wid = funded(server.client)
    r = server.client.check_reserve(org_of(wid), tier, 1)
    assert (r.ok, r.balance, r.shortfall) == (ok, 50_000, shortfall)
    assert r.required == {"nano": 10_950, "small": 21_900, "medium": 50_370, "xlarge": 181_770}[tier]


def test_check_reserve_counts_replicas_and_holds(server: WalletServer, http: httpx.Client) -> None:
    c = server.client
    wid = funded(c, 1_000)
    c.hold(org_of(wid), 400)
    r = c.check_reserve(org_of(wid), "nano", 5)
    assert (r.required, r.balance, r.ok, r.shortfall) == (54_750, 50_600, False, 4_150)
    bad = post(http, f"/v1/wallets/{wid}/check-reserve", {"tier": "huge", "replicas": 1})
    assert bad.status_code == 422 and bad.json()["field"] == "tier" and "nano" in bad.json()["message"]


def test_hosting_spends_intro_then_purchased_then_earned(server: WalletServer) -> None:
    c = server.client
    payer, earner = funded(c, 1_000), funded(c, 1_000)
    hold = c.hold(org_of(payer), 300)
    c.settle(hold.id, org_of(earner), 300, service="s", route="/r", method="GET", request_id="r1")
    charge = c.hosting_charge(org_of(earner), "docman", "2026-01-01T00:00:00Z", 50_900, tier="nano", pods=1)
    paid = {e.token_type: -e.amount for e in charge.transaction.entries if e.wallet == earner}
    assert paid == {"intro": 50_000, "purchased": 900}
    charge = c.hosting_charge(org_of(earner), "docman", "2026-01-01T01:00:00Z", 150)
    paid = {e.token_type: -e.amount for e in charge.transaction.entries if e.wallet == earner}
    assert paid == {"purchased": 100, "earned": 50}
    assert ("platform:hosting-revenue", 150) in {(e.account, e.amount) for e in charge.transaction.entries}


def test_hosting_402_debits_nothing_and_names_required_and_available(server: WalletServer,
                                                                   http: httpx.Client) -> None:
    wid = funded(server.client, 10)
    server.client.hold(org_of(wid), 10)
    r = post(http, f"/v1/wallets/{wid}/hosting-charges", {"component": "c", "hour": "h", "tokens": 50_001})
    assert r.status_code == 402
    assert r.json() | {"message": ""} == {"error": "INSUFFICIENT_GAS", "message": "", "field": "tokens",
                                          "wallet": wid, "required": 50_001, "available": 50_000}
    assert http.get(f"/v1/wallets/{wid}").json()["total"] == 50_010


# ---------------------------------------------------------------- holds and settlement


def test_api_gas_never_uses_intro(server: WalletServer) -> None:
    wid = funded(server.client)
    with pytest.raises(InsufficientGas) as exc:
        server.client.hold(org_of(wid), 1)
    assert exc.value.available == 0 and exc.value.wallet == wid


def test_hold_settle_many_times_then_release(server: WalletServer) -> None:
    c = server.client
    caller, provider = funded(c, 100), funded(c)
    hold = c.hold(org_of(caller), 60, ttl_seconds=60)
    assert (hold.remaining, hold.status) == (60, "open")
    assert c.get_wallet(org_of(caller)).available.api == 40
    s1 = c.settle(hold.id, org_of(provider), 25, service="docman", route="/documents", method="POST", request_id="q1")
    s2 = c.settle(hold.id, org_of(provider), 5, service="docman", route="/documents", method="POST", request_id="q2")
    assert (s1.remaining, s2.remaining, s2.paid_from) == (35, 30, {"purchased": 5})
    with pytest.raises(InvalidRequest) as exc:
        c.settle(hold.id, org_of(provider), 31, service="d", route="/", method="GET", request_id="q3")
    assert exc.value.status == 422 and exc.value.code == "HOLD_EXCEEDED"
    released = c.release(hold.id)
    assert (released.status, released.remaining, released.settled, released.released) == ("released", 0, 30, 30)
    with pytest.raises(HoldClosed) as closed:
        c.settle(hold.id, org_of(provider), 1, service="d", route="/", method="GET", request_id="q4")
    assert closed.value.status == 409 and closed.value.code == "HOLD_RELEASED"
    w, p = c.get_wallet(org_of(caller)), c.get_wallet(org_of(provider))
    assert (w.balances.purchased, w.held, p.balances.earned) == (70, 0, 30)
    types = [t.type for t in c.ledger(org_of(caller)).transactions[:4]]
    assert types == ["release", "api_gas", "api_gas", "hold"]
    provider_view = c.ledger(org_of(provider)).transactions[0]
    assert provider_view.type == "api_gas" and provider_view.details["requestId"] == "q2"


def test_hold_expires_after_ttl_and_frees_funds(server: WalletServer) -> None:
    c = server.client
    caller, provider = funded(c, 100), funded(c)
    hold = c.hold(org_of(caller), 100, ttl_seconds=1)
    assert c.get_wallet(org_of(caller)).available.api == 0
    time.sleep(1.2)
    assert c.get_wallet(org_of(caller)).available.api == 100  # overdue holds stop counting at once
    with pytest.raises(HoldClosed) as exc:
        c.settle(hold.id, org_of(provider), 1, service="d", route="/", method="GET", request_id="x")
    assert exc.value.code == "HOLD_EXPIRED"
    assert c.ledger(org_of(caller)).transactions[0].type == "expiry"
    assert c.integrity().ok


def test_unknown_hold_and_unknown_provider(server: WalletServer) -> None:
    c = server.client
    caller = funded(c, 10)
    with pytest.raises(Exception) as exc:
        c.settle("hold-nope", org_of(caller), 1, service="d", route="/", method="GET", request_id="x")
    assert getattr(exc.value, "code", "") == "HOLD_NOT_FOUND" and exc.value.status == 404  # type: ignore[attr-defined]
    hold = c.hold(org_of(caller), 10)
    with pytest.raises(WalletNotFound) as nf:
        c.settle(hold.id, "nobody-here", 1, service="d", route="/", method="GET", request_id="x")
    assert nf.value.field == "provider"
    assert c.get_wallet(org_of(caller)).held == 10


def test_batch_forms_answer_each_item(server: WalletServer) -> None:
    c = server.client
    caller, provider = funded(c, 1_000), funded(c)
    holds = c.hold_batch([HoldRequest(org_of(caller), 100, key="hb1"), HoldRequest(org_of(caller), 10_000, key="hb2")])
    assert [r.status for r in holds] == [201, 402]
    assert isinstance(holds[1].error, InsufficientGas)
    hid = holds[0].value.id  # type: ignore[union-attr]
    items = [SettleRequest(hid, org_of(provider), 30, "svc", "/r", "GET", f"r{i}", key=f"sb-{hid}-{i}")
             for i in range(3)]
    items.append(SettleRequest(hid, org_of(provider), 30, "svc", "/r", "GET", "r3", key=f"sb-{hid}-3"))
    results = c.settle_batch(items)
    assert [r.status for r in results] == [200, 200, 200, 422]
    assert [r.value.remaining for r in results[:3]] == [70, 40, 10]  # type: ignore[union-attr]
    again = c.settle_batch(items[:3])
    assert [r.body for r in again] == [r.body for r in results[:3]]
    assert c.get_wallet(org_of(provider)).balances.earned == 90
    raw = httpx.post(f"{server.url}/v1/settlements/batch", headers=server.headers("b-" + hid),
                     json={"items": [{"key": "only-key"}, "nonsense", {"key": "z", "hold": hid, "provider": provider,
                                                                      "tokens": "1", "service": "s", "route": "/",
                                                                      "method": "GET", "requestId": "r"}]})
    assert [(r["status"], r["body"].get("field")) for r in raw.json()["results"]] == [
        (422, "hold"), (422, "items"), (422, "tokens")]


# ---------------------------------------------------------------- bill grants, gas events, stats


def test_bill_grants_put_and_get(server: WalletServer, http: httpx.Client) -> None:
    wid = funded(server.client)
    assert server.client.get_bill_grants(org_of(wid)).grants == ()
    given = [Grant("acme", "quoter"), Grant("acme", "docman"), Grant("acme", "quoter")]
    assert server.client.put_bill_grants(org_of(wid), given).grants == (Grant("acme", "docman"),
                                                                         Grant("acme", "quoter"))
    assert http.get(f"/v1/wallets/{wid}/bill-grants").json() == {
        "wallet": wid, "grants": [{"org": "acme", "service": "docman"}, {"org": "acme", "service": "quoter"}]}
    assert server.client.put_bill_grants(org_of(wid), []).grants == ()


def test_gas_events_and_stats(server: WalletServer) -> None:
    c = server.client
    caller, provider = funded(c, 1_000), funded(c)
    hold = c.hold(org_of(caller), 100)
    for i, (service, tokens) in enumerate([("docman", 5), ("docman", 5), ("quoter", 3)]):
        c.settle(hold.id, org_of(provider), tokens, service=service, route="/documents", method="POST",
                 request_id=f"req{i}")
    c.hosting_charge(org_of(caller), "docman", "2026-01-01T00:00:00Z", 10, tier="nano", pods=2, service="docman")
    org_name = caller.removeprefix("wallet-")
    events = c.gas_events(org=org_name).events
    assert [(e.kind, e.service, e.tokens) for e in events] == [
        ("hosting", "docman", 10), ("api", "quoter", 3), ("api", "docman", 5), ("api", "docman", 5)]
    assert events[1].request_id == "req2" and events[1].route == "/documents" and events[1].method == "POST"
    assert events[0].details["pods"] == 2 and events[0].details["tier"] == "nano"
    by_service = {g.key: (g.tokens, g.events, g.api_tokens, g.hosting_tokens)
                  for g in c.gas_stats(by="service", org=org_name).groups}
    assert by_service == {"docman": (20, 3, 10, 10), "quoter": (3, 1, 3, 0)}
    today = time.strftime("%Y-%m-%d", time.gmtime())
    by_day = c.gas_stats(by="day", org=org_name, from_=today, to=today)
    assert [(g.key, g.tokens) for g in by_day.groups] == [(today, 23)] and by_day.tokens == 23
    assert c.gas_stats(org=org_name, to="2000-01-01").groups == []
    assert c.gas_events(org=org_name, service="quoter").events[0].tokens == 3


def test_ledger_pages_newest_first_with_cursor(server: WalletServer, http: httpx.Client) -> None:
    c = server.client
    wid = funded(c)
    for n in range(1, 6):
        c.purchase(org_of(wid), n)
    page1 = c.ledger(org_of(wid), limit=4)
    page2 = c.ledger(org_of(wid), limit=4, cursor=page1.next_cursor)
    amounts = [t.amount for t in page1.transactions + page2.transactions]
    assert amounts == [5, 4, 3, 2, 1, 50_000] and page2.next_cursor is None
    assert http.get(f"/v1/wallets/{wid}/ledger", params={"cursor": "abc"}).status_code == 422
    assert http.get(f"/v1/wallets/{wid}/ledger", params={"from": "yesterday"}).json()["field"] == "from"
    assert http.get(f"/v1/wallets/{wid}/ledger", params={"limit": 0}).status_code == 422


# ---------------------------------------------------------------- auth, health, metrics, OpenAPI


def test_auth_401_without_token_and_with_an_unknown_one(server: WalletServer) -> None:
    r = httpx.post(f"{server.url}/v1/wallets", json={"org": org()}, headers={"Idempotency-Key": "a1"})
    assert r.status_code == 401 and r.json()["error"] == "UNAUTHENTICATED"
    r = httpx.get(f"{server.url}/v1/gas/events", headers={"Authorization": "Bearer wrong"})
    assert r.status_code == 401 and r.json()["error"] == "UNAUTHENTICATED"
    with pytest.raises(WalletAuthError):
        WalletClient(server.url, "wrong").get_bill_grants("x")
    assert httpx.get(f"{server.url}/healthz").json()["status"] == "ok"


def test_open_reads_lets_reads_through_but_not_writes(wallet_factory: Any) -> None:
    server = wallet_factory(open_reads=True)
    server.client.create_wallet("reader")
    assert httpx.get(f"{server.url}/v1/wallets/wallet-reader").status_code == 200
    r = httpx.post(f"{server.url}/v1/wallets/wallet-reader/purchases", json={"tokens": 5},
                   headers={"Idempotency-Key": "p"})
    assert r.status_code == 401


def test_server_refuses_to_start_without_a_token(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "TAWA_WALLET_TOKEN"}
    r = subprocess.run([sys.executable, "-m", "tawa.wallet", "--port", "1", "--database-url",
                        f"sqlite:///{tmp_path}/x.db"], env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "TAWA_WALLET_TOKEN" in r.stderr and "--insecure-no-auth" in r.stderr


def test_metrics_and_openapi(server: WalletServer) -> None:
    text = httpx.get(f"{server.url}/metrics", headers=server.headers()).text
    assert "wallet_http_requests_total" in text and "wallet_commands_total" in text
    spec = httpx.get(f"{server.url}/openapi.json").json()
    for path in ("/v1/wallets", "/v1/wallets/{wallet_id}", "/v1/wallets/{wallet_id}/ledger",
                 "/v1/wallets/{wallet_id}/purchases", "/v1/wallets/{wallet_id}/check-reserve",
                 "/v1/wallets/{wallet_id}/hosting-charges", "/v1/wallets/{wallet_id}/bill-grants", "/v1/holds",
                 "/v1/holds/batch", "/v1/holds/{hold_id}/settle", "/v1/holds/{hold_id}/release",
                 "/v1/settlements/batch", "/v1/gas/events", "/v1/gas/stats", "/healthz"):
        assert path in spec["paths"], path
    charge = spec["paths"]["/v1/wallets/{wallet_id}/hosting-charges"]["post"]["responses"]["201"]
    assert "Idempotent-Replayed" in charge["headers"]


def test_metrics_on_their_own_port_need_no_token(wallet_factory: Any) -> None:
    """`--metrics-port` (TAWA_WALLET_METRICS_PORT): /metrics there without a token, from the
    registry the API counts in; nothing else on that port; the API's /metrics still needs the token;
    the header deadline holds there too; SIGTERM stops both."""
    import socket

    from tests.fixtures.ports import free_port

    port = free_port()
    server = wallet_factory(env={"TAWA_WALLET_METRICS_PORT": str(port), "TAWA_WALLET_HEADER_TIMEOUT": "1"})
    server.client.create_wallet(org())
    metrics = f"http://127.0.0.1:{port}"
    r = httpx.get(f"{metrics}/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    assert 'wallet_commands_total{kind="create_wallet",status="201"} 1.0' in r.text
    assert httpx.get(f"{metrics}/v1/gas/events").status_code == 404
    assert httpx.get(f"{metrics}/healthz").status_code == 404
    assert httpx.post(f"{metrics}/metrics").status_code == 405
    assert httpx.get(f"{server.url}/metrics").status_code == 401
    with socket.create_connection(("127.0.0.1", port), timeout=5) as idle:
        idle.sendall(b"GET /metrics HTTP/1.1\r\n")  # and never the rest of the head
        assert b"408" in idle.recv(4096).split(b"\r\n")[0]
    server.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{metrics}/metrics")


def test_client_reports_unreachable_wallet_as_unavailable() -> None:
    from tests.fixtures.ports import free_port

    with pytest.raises(WalletUnavailable) as exc:
        WalletClient(f"http://127.0.0.1:{free_port()}", "t", timeout=1).get_wallet("x")
    assert exc.value.status == 0


def test_every_response_names_its_request_and_the_log_is_json_lines(server: WalletServer,
                                                                     http: httpx.Client) -> None:
    given = http.get("/healthz", headers={"X-Request-ID": "deploy-42"})
    assert given.headers["x-request-id"] == "deploy-42"  # the caller's id names the request in the logs
    fresh = {http.post("/v1/wallets", json={"org": org()}, headers={"Idempotency-Key": uuid.uuid4().hex})
             .headers["x-request-id"] for _ in range(2)}
    assert len(fresh) == 2 and all(len(i) == 32 for i in fresh)
    assert http.get("/healthz", headers={"X-Request-ID": "x" * 500}).headers["x-request-id"] != "x" * 500
    lines = [json.loads(line) for line in server.log().splitlines() if line.strip()]
    assert any(e["message"] == "wallet listening" and e["url"].endswith(f":{server.port}") for e in lines)
    assert all({"time", "level", "logger", "message"} <= e.keys() for e in lines)


# ---------------------------------------------------------------- bill grants name a caller (issue 12)


def grants(*pairs: str) -> dict[str, list[dict[str, str]]]:
    """grants("acme/quoting", ...) → the request body {"grants": [{"org": "acme", "service": "quoting"}, ...]}."""
    return {"grants": [dict(zip(("org", "service"), p.split("/"), strict=True)) for p in pairs]}


def test_bill_grants_name_the_callers_org_and_service_sorted_once_each(server: WalletServer,
                                                                      http: httpx.Client) -> None:
    wid = funded(server.client)
    assert http.get(f"/v1/wallets/{wid}/bill-grants").json() == {"wallet": wid, "grants": []}
    put = http.put(f"/v1/wallets/{wid}/bill-grants", json=grants("zeta/quoting", "acme/quoting", "acme/docman",
                                                                 "acme/quoting", "acme-2/a"))
    expected = {"wallet": wid, "grants": grants("acme/docman", "acme/quoting", "acme-2/a", "zeta/quoting")["grants"]}
    assert put.status_code == 200 and put.json() == expected
    assert http.get(f"/v1/wallets/{wid}/bill-grants").json() == expected
    # A PUT replaces the list: the same service name under another owner is another caller.
    assert http.put(f"/v1/wallets/{wid}/bill-grants", json=grants("zeta/quoting")).json()["grants"] == [
        {"org": "zeta", "service": "quoting"}]
    assert http.put(f"/v1/wallets/{wid}/bill-grants", json={"grants": []}).json()["grants"] == []


BAD_GRANTS = [
    ({"grants": [{"org": "wallet-acme", "service": "quoting"}]}, "grants.0.org"),  # a wallet id, not an org
    ({"grants": [{"org": "Acme", "service": "quoting"}]}, "grants.0.org"),
    ({"grants": [{"org": "acme", "service": "quoting"}, {"org": "acme", "service": "quo_ting"}]}, "grants.1.service"),
    ({"grants": [{"org": "acme", "service": "x" * 64}]}, "grants.0.service"),
    ({"grants": [{"org": "acme"}]}, "grants.0.service"),
    ({"grants": [{"org": "acme", "service": "quoting", "namespace": "prod"}]}, "grants.0.namespace"),
    ({"grants": ["acme/quoting"]}, "grants.0"),
    ({"grants": [{"org": 7, "service": "quoting"}]}, "grants.0.org"),
]


@pytest.mark.parametrize("body, field", BAD_GRANTS, ids=[f"{i}-{f}" for i, (_, f) in enumerate(BAD_GRANTS)])
def test_a_bad_grant_is_422_naming_its_field_and_changes_nothing(server: WalletServer, http: httpx.Client,
                                                                body: dict[str, Any], field: str) -> None:
    wid = funded(server.client)
    http.put(f"/v1/wallets/{wid}/bill-grants", json=grants("acme/docman"))
    r = http.put(f"/v1/wallets/{wid}/bill-grants", json=body)
    assert r.status_code == 422 and r.json()["field"] == field, r.text
    assert r.json()["message"].startswith(field)
    assert http.get(f"/v1/wallets/{wid}/bill-grants").json()["grants"] == [{"org": "acme", "service": "docman"}]


def test_the_old_bare_service_shape_is_refused_showing_the_new_one(server: WalletServer, http: httpx.Client) -> None:
    """Issue 12: a bare service name could be claimed by any token; the old body must not half-work."""
    wid = funded(server.client)
    for body in ({"services": ["quoter"]}, {"services": []}, {"services": ["quoter"], "grants": []}):
        r = http.put(f"/v1/wallets/{wid}/bill-grants", json=body)
        assert r.status_code == 422, r.text
        answer = r.json()
        assert answer["error"] == "GRANTS_SHAPE_CHANGED" and answer["field"] == "services"
        assert '{"grants": [{"org": "acme", "service": "quoting"}]}' in answer["message"]
    assert http.get(f"/v1/wallets/{wid}/bill-grants").json()["grants"] == []
