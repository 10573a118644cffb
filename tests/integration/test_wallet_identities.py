"""Who may move money (issue 16), against a real wallet server over real sockets: every role ×
every endpoint, org keys (created, listed, revoked at once), and the issue's attack list refused
for every credential but the admin's, with nothing changed by a refusal."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tawa.names import Grant
from tests.fixtures.wallet import WalletServer, start_wallet_server

ROLES = ("admin", "operator", "janus", "owner", "viewer", "other-owner", "other-viewer")


@dataclass
class World:
    wallet: WalletServer
    org: str  # the target: every call below is about this org's wallet
    other: str  # a stranger org with its own keys
    tokens: dict[str, str]

    def call(self, who: str | None, method: str, path: str, json: Any = None,
             params: dict[str, str] | None = None) -> httpx.Response:
        headers = {"Idempotency-Key": uuid.uuid4().hex}
        if who is not None:
            headers["Authorization"] = f"Bearer {self.tokens.get(who, who)}"
        return httpx.request(method, f"{self.wallet.url}{path}", json=json, params=params, headers=headers,
                             timeout=10)

    def state(self) -> tuple[Any, ...]:
        """Everything a refused call must leave as it was."""
        c = self.wallet.client
        return (c.get_wallet(self.org), c.get_wallet(self.other), c.integrity().counts,
                c.get_bill_grants(self.org).grants, sorted(k.id for k in c.list_keys(self.org)))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    wallet = start_wallet_server(tmp_path_factory.mktemp("identities"))
    org, other = f"acme-{uuid.uuid4().hex[:6]}", f"other-{uuid.uuid4().hex[:6]}"
    c = wallet.client
    for o in (org, other):
        c.create_wallet(o)
        c.purchase(o, 10_000)
    tokens = {"admin": wallet.token, "operator": wallet.operator_token, "janus": wallet.janus_token,
              "owner": c.create_key(org, "owner", "ci").key, "viewer": c.create_key(org, "viewer").key,
              "other-owner": c.create_key(other, "owner").key, "other-viewer": c.create_key(other, "viewer").key}
    yield World(wallet, org, other, tokens)
    wallet.close()


Request = tuple[str, str, Any, dict[str, str] | None]


def endpoints(w: World) -> dict[str, tuple[Callable[[], Request], set[str]]]:
    """Every endpoint, a valid request about w.org's wallet, and who besides admin may call it (by hand,
    from the issue's role table)."""
    wid = f"/v1/wallets/wallet-{w.org}"

    def hold() -> str:
        return w.wallet.client.hold(w.org, 5, 60).id

    def settle_item() -> dict[str, Any]:
        return {"provider": f"wallet-{w.other}", "tokens": 1, "service": "s", "route": "/r", "method": "GET",
                "requestId": uuid.uuid4().hex}

    def a_key() -> str:
        return w.wallet.client.create_key(w.org, "viewer", "to revoke").id

    hour = "2026-01-01T00:00:00Z"
    return {
        "create wallet": (lambda: ("POST", "/v1/wallets", {"org": f"new-{uuid.uuid4().hex[:6]}"}, None), set()),
        "read wallet": (lambda: ("GET", wid, None, None), {"operator", "janus", "owner", "viewer"}),
        "ledger": (lambda: ("GET", f"{wid}/ledger", None, None), {"owner", "viewer"}),
        "purchase": (lambda: ("POST", f"{wid}/purchases", {"tokens": 1}, None), {"owner"}),
        "check-reserve": (lambda: ("POST", f"{wid}/check-reserve", {"tier": "nano"}, None), {"operator"}),
        "hosting charge": (lambda: ("POST", f"{wid}/hosting-charges",
                                    {"component": f"ns/{uuid.uuid4().hex[:6]}", "hour": hour, "tokens": 1}, None),
                           {"operator"}),
        "read grants": (lambda: ("GET", f"{wid}/bill-grants", None, None), {"janus", "owner", "viewer"}),
        "set grants": (lambda: ("PUT", f"{wid}/bill-grants", {"grants": []}, None), {"owner"}),
        "create key": (lambda: ("POST", f"{wid}/keys", {"role": "viewer", "name": "x"}, None), {"owner"}),
        "list keys": (lambda: ("GET", f"{wid}/keys", None, None), {"owner"}),
        "revoke key": (lambda: ("DELETE", f"{wid}/keys/{a_key()}", None, None), {"owner"}),
        "hold": (lambda: ("POST", "/v1/holds", {"wallet": f"wallet-{w.org}", "tokens": 1}, None), {"janus"}),
        "hold batch": (lambda: ("POST", "/v1/holds/batch", {"items": [
            {"key": uuid.uuid4().hex, "wallet": f"wallet-{w.org}", "tokens": 1}]}, None), {"janus"}),
        "settle": (lambda: ("POST", f"/v1/holds/{hold()}/settle", settle_item(), None), {"janus"}),
        "release": (lambda: ("POST", f"/v1/holds/{hold()}/release", None, None), {"janus"}),
        "settle batch": (lambda: ("POST", "/v1/settlements/batch", {"items": [
            {**settle_item(), "key": uuid.uuid4().hex, "hold": hold()}]}, None), {"janus"}),
        "gas events": (lambda: ("GET", "/v1/gas/events", None, {"org": w.org}), {"owner", "viewer"}),
        "gas stats": (lambda: ("GET", "/v1/gas/stats", None, {"org": w.org}), {"owner", "viewer"}),
        "integrity": (lambda: ("GET", "/v1/admin/integrity", None, None), set()),
        "metrics": (lambda: ("GET", "/metrics", None, None), set()),
        "reversal": (lambda: ("POST", f"/v1/transactions/{w.wallet.client.purchase(w.org, 3).transaction.id}"
                              "/reversals", None, None), set()),
        "whoami": (lambda: ("GET", "/v1/whoami", None, None), set(ROLES)),  # anyone, about itself
    }


ENDPOINTS = ["create wallet", "read wallet", "ledger", "purchase", "check-reserve", "hosting charge", "read grants",
             "set grants", "create key", "list keys", "revoke key", "hold", "hold batch", "settle", "release",
             "settle batch", "gas events", "gas stats", "integrity", "metrics", "reversal", "whoami"]


def test_the_walk_names_every_endpoint_of_the_app(world: World) -> None:
    assert sorted(endpoints(world)) == sorted(ENDPOINTS)
    routes = {(m, p) for p, item in httpx.get(f"{world.wallet.url}/openapi.json").json()["paths"].items()
              for m in item}
    assert len(routes - {("get", "/healthz")}) == len(ENDPOINTS) - 1  # /healthz is public; /metrics not in it


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("who", ROLES)
def test_every_role_on_every_endpoint(world: World, who: str, endpoint: str) -> None:
    make, allowed = endpoints(world)[endpoint]
    method, path, body, params = make()
    before = world.state()
    r = world.call(who, method, path, body, params)
    if who == "admin" or who in allowed:
        assert r.status_code < 300, (who, endpoint, r.text)
        return
    assert r.status_code == 403, (who, endpoint, r.text)
    assert r.json()["error"] == "FORBIDDEN" and " may not " in r.json()["message"]
    assert world.state() == before


@pytest.mark.parametrize("endpoint", ["purchase", "hosting charge", "set grants", "hold", "ledger"])
@pytest.mark.parametrize("credential", [None, "not-a-token", "twk_0123456789abcdef_guess"])
def test_no_or_unknown_credential_is_401_and_changes_nothing(world: World, credential: str | None,
                                                             endpoint: str) -> None:
    method, path, body, params = endpoints(world)[endpoint][0]()
    before = world.state()
    r = world.call(credential, method, path, body, params)
    assert r.status_code == 401 and r.json()["error"] == "UNAUTHENTICATED"
    assert world.state() == before


def test_attack_list_is_refused_for_every_role_but_admin(world: World) -> None:
    """The issue's attacks: tokens minted via purchases (of another org), hosting charged to any org,
    a settlement moving tokens to a stranger, another org's bill grants, another org's ledger and gas."""
    victim = world.org
    attacks: list[Request] = [
        ("POST", f"/v1/wallets/wallet-{victim}/purchases", {"tokens": 9007199254690992}, None),
        ("POST", f"/v1/wallets/wallet-{victim}/hosting-charges",
         {"component": "made/up", "hour": "2026-01-01T00:00:00Z", "tokens": 5000}, None),
        ("PUT", f"/v1/wallets/wallet-{victim}/bill-grants", {"grants": [{"org": "evil", "service": "x"}]}, None),
        ("GET", f"/v1/wallets/wallet-{victim}/ledger", None, None),
        ("GET", "/v1/gas/events", None, {"org": victim}),
        ("GET", "/v1/gas/stats", None, {"org": victim}),
    ]
    hold = world.wallet.client.hold(victim, 100, 60).id
    cross_settle = ("POST", f"/v1/holds/{hold}/settle", {"provider": f"wallet-{world.other}", "tokens": 100,
                                                         "service": "s", "route": "/", "method": "GET",
                                                         "requestId": "r"}, None)
    for who in ("operator", "other-owner", "other-viewer"):
        for method, path, body, params in [*attacks, cross_settle]:
            if who == "operator" and path.endswith("/hosting-charges"):
                continue  # the operator's own job; the wallet cannot tell a made-up Component (noted in the docs)
            before = world.state()
            r = world.call(who, method, path, body, params)
            assert r.status_code == 403 and r.json()["error"] == "FORBIDDEN", (who, path, r.text)
            assert world.state() == before
    for method, path, body, params in attacks:  # Janus: no purchases, charges, grants or gas reads
        assert world.call("janus", method, path, body, params).status_code == 403, path
    # The org's own viewer may read, never mint, charge or grant.
    for method, path, body, params in attacks[:3]:
        assert world.call("viewer", method, path, body, params).status_code == 403, path
    world.wallet.client.release(hold)


def test_gas_reads_by_an_org_key_are_filtered_to_its_org(world: World) -> None:
    c = world.wallet.client
    h = c.hold(world.other, 3, 60).id
    c.settle(h, world.org, 3, service="svc", route="/", method="GET", request_id=uuid.uuid4().hex)
    r = world.call("viewer", "GET", "/v1/gas/events")
    assert r.status_code == 200 and r.json()["events"]
    assert {e["org"] for e in r.json()["events"]} == {world.org}
    assert world.call("viewer", "GET", "/v1/gas/events", params={"org": world.other}).status_code == 403


def test_whoami_names_each_credentials_role_org_and_key(world: World) -> None:
    owner_id = world.tokens["owner"].split("_")[1]
    assert world.call("owner", "GET", "/v1/whoami").json() == {"role": "owner", "org": world.org, "keyId": owner_id}
    assert world.call("other-viewer", "GET", "/v1/whoami").json()["org"] == world.other
    assert world.call("janus", "GET", "/v1/whoami").json() == {"role": "janus", "org": None, "keyId": None}
    assert world.call(None, "GET", "/v1/whoami").status_code == 401


def test_org_keys_created_listed_and_revoked_at_once(world: World) -> None:
    owner = world.tokens["owner"]
    created = world.call("owner", "POST", f"/v1/wallets/wallet-{world.org}/keys",
                         {"role": "viewer", "name": "dashboard"})
    assert created.status_code == 201
    key = created.json()
    assert set(key) == {"id", "key", "role", "name", "createdAt"} and key["role"] == "viewer"
    assert world.call(key["key"], "GET", f"/v1/wallets/wallet-{world.org}").status_code == 200
    listed = world.call(owner, "GET", f"/v1/wallets/wallet-{world.org}/keys").json()["keys"]
    mine = next(k for k in listed if k["id"] == key["id"])
    assert set(mine) == {"id", "name", "role", "createdAt", "lastUsedAt"} and mine["lastUsedAt"] is not None
    assert key["key"] not in str(listed)
    assert world.call(owner, "DELETE", f"/v1/wallets/wallet-{world.org}/keys/{key['id']}").status_code == 204
    r = world.call(key["key"], "GET", f"/v1/wallets/wallet-{world.org}")
    assert r.status_code == 401 and r.json()["error"] == "UNAUTHENTICATED"
    again = world.call(owner, "DELETE", f"/v1/wallets/wallet-{world.org}/keys/{key['id']}")
    assert again.status_code == 404 and again.json()["error"] == "KEY_NOT_FOUND"
    assert world.call(owner, "POST", f"/v1/wallets/wallet-{world.org}/keys",
                      {"role": "admin"}).status_code == 422


def test_the_client_uses_whatever_credential_it_is_given(world: World) -> None:
    from tawa.wallet.client import WalletAuthError, WalletClient

    with WalletClient(world.wallet.url, world.tokens["owner"]) as owner:
        assert owner.purchase(world.org, 7).wallet.balances.purchased > 0
        owner.put_bill_grants(world.org, [Grant("acme", "quoting")])
        assert [k.role for k in owner.list_keys(world.org)]
        with pytest.raises(WalletAuthError):
            owner.purchase(world.other, 7)
    world.wallet.client.put_bill_grants(world.org, [])


def test_every_transaction_records_its_actor(world: World) -> None:
    c = world.wallet.client
    owner_id = world.tokens["owner"].split("_")[1]
    world.call("owner", "POST", f"/v1/wallets/wallet-{world.org}/purchases", {"tokens": 11})
    world.call("operator", "POST", f"/v1/wallets/wallet-{world.org}/hosting-charges",
               {"component": "ns/actor", "hour": "2026-01-02T00:00:00Z", "tokens": 3})
    hold = world.call("janus", "POST", "/v1/holds", {"wallet": f"wallet-{world.org}", "tokens": 2}).json()
    world.call("janus", "POST", f"/v1/holds/{hold['id']}/release")
    c.purchase(world.org, 13)
    raw = world.call("viewer", "GET", f"/v1/wallets/wallet-{world.org}/ledger", params={"limit": "5"}).json()
    assert [(t["type"], t["actor"]) for t in raw["transactions"]] == [
        ("purchase", "admin"), ("release", "janus"), ("hold", "janus"), ("hosting_charge", "operator"),
        ("purchase", f"key:{owner_id}")]
    assert [t.actor for t in c.ledger(world.org, limit=1).transactions] == ["admin"]


def test_a_reversal_compensates_once_and_the_ledger_still_balances(world: World) -> None:
    """A wrong hosting charge refunded: a new transaction linked to the first, which stays as it was."""
    c = world.wallet.client
    before = c.get_wallet(world.org)
    charge = world.call("operator", "POST", f"/v1/wallets/wallet-{world.org}/hosting-charges",
                        {"component": "ns/outage", "hour": "2026-01-03T00:00:00Z", "tokens": 400}).json()
    txn = charge["transaction"]["id"]
    key = {"Idempotency-Key": f"refund/{txn}", "Authorization": f"Bearer {world.wallet.token}"}
    first = httpx.post(f"{world.wallet.url}/v1/transactions/{txn}/reversals", headers=key)
    assert first.status_code == 201, first.text
    body = first.json()
    assert body["reverses"] == txn and body["transaction"]["type"] == "reversal"
    assert body["transaction"]["actor"] == "admin" and body["transaction"]["details"]["reverses"] == txn
    assert sorted(e["amount"] for e in body["transaction"]["entries"]) == sorted(
        -e["amount"] for e in charge["transaction"]["entries"])
    assert c.get_wallet(world.org).balances == before.balances  # refunded to the token types that paid
    replay = httpx.post(f"{world.wallet.url}/v1/transactions/{txn}/reversals", headers=key)
    assert replay.status_code == 201 and replay.json() == body and replay.headers["Idempotent-Replayed"] == "true"
    again = world.call("admin", "POST", f"/v1/transactions/{txn}/reversals")
    assert again.status_code == 409 and again.json()["error"] == "ALREADY_REVERSED"
    assert again.json()["reversal"] == body["transaction"]["id"]
    ledger = {t.id: t for t in c.ledger(world.org, limit=100).transactions}
    assert ledger[txn].type == "hosting_charge" and ledger[txn].amount == 400  # never edited
    assert ledger[body["transaction"]["id"]].details["reverses"] == txn
    assert world.call("admin", "POST", f"/v1/transactions/{body['transaction']['id']}/reversals").json()[
        "error"] == "NOT_REVERSIBLE"
    assert world.call("admin", "POST", "/v1/transactions/999999999/reversals").status_code == 404
    assert c.integrity().ok
    refund = c.purchase(world.org, 9).transaction.id
    reversal = c.reverse(refund, idempotency_key=f"refund/{refund}")
    assert (reversal.reverses, reversal.transaction.type, reversal.transaction.actor) == (refund, "reversal", "admin")
    assert c.reverse(refund, idempotency_key=f"refund/{refund}") == reversal  # a retry answers the same


def test_failed_authentications_are_slowed_per_source(wallet_factory: Callable[..., WalletServer]) -> None:
    wallet = wallet_factory(env={"TAWA_WALLET_AUTH_FAILURE_LIMIT": "5", "TAWA_WALLET_AUTH_FAILURE_WINDOW": "3"})
    wallet.client.create_wallet("guessed")
    url = f"{wallet.url}/v1/wallets/wallet-guessed/purchases"
    for i in range(5):
        r = httpx.post(url, json={"tokens": 1}, headers={"Authorization": f"Bearer guess-{i}", "Idempotency-Key": "k"})
        assert r.status_code == 401
    slowed = httpx.post(url, json={"tokens": 1}, headers={**wallet.headers("k2")})  # even the right token, now
    assert slowed.status_code == 429 and slowed.json()["error"] == "TOO_MANY_FAILED_AUTHENTICATIONS"
    assert 1 <= int(slowed.headers["Retry-After"]) <= 3
    assert httpx.get(f"{wallet.url}/healthz").status_code == 200  # public paths are not slowed
    time.sleep(int(slowed.headers["Retry-After"]))
    assert httpx.post(url, json={"tokens": 1}, headers=wallet.headers("k3")).status_code == 201
    assert wallet.client.get_wallet("guessed").balances.purchased == 1  # the slowed call changed nothing


def test_the_async_client_manages_keys_too(world: World) -> None:
    import asyncio

    from tawa.wallet.client import AsyncWalletClient

    async def scenario() -> None:
        async with AsyncWalletClient(world.wallet.url, world.tokens["owner"]) as owner:
            made = await owner.create_key(world.org, "viewer", "async")
            assert made.id in [k.id for k in await owner.list_keys(world.org)]
            await owner.revoke_key(world.org, made.id)
            assert made.id not in [k.id for k in await owner.list_keys(world.org)]

    asyncio.run(scenario())
