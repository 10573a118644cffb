"""Who pays, tried as an attacker would (findings 2, 3, 4 and 10 of the money-path review).

A real wallet, a recording upstream and Janus, on sockets. Each test names the
finding it guards; each failed on the code before the fix:
- 2: a grant named a bare service, and any token could claim any service name;
- 3: `wallet-victim` as a programId was charged to org victim's wallet;
- 4: a crafted X-Bill-Org was pasted into the wallet's URL, and the odd answer taken for
  an outage, so Janus failed open;
- 10: a service JWT living a hundred years, or with `exp` as a string, was accepted.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import jwt
import pytest

from tawa.names import Grant
from tests.fixtures.janus import TEST_JWT_SECRET, JanusProcess, RecordingUpstream, service_token, unique_org
from tests.fixtures.wallet import WalletServer
from tests.integration.janus_module_fixtures import janus, upstream, wallet  # noqa: F401


def purchased(wallet: WalletServer, org: str) -> int:
    return wallet.client.get_wallet(org).balances.purchased


def api_tokens(wallet: WalletServer, org: str) -> int:
    return wallet.client.gas_stats(by="service", org=org).tokens


def funded(wallet: WalletServer, prefix: str, tokens: int = 1000) -> str:
    org = unique_org(prefix)
    wallet.client.create_wallet(org)
    if tokens:
        wallet.client.purchase(org, tokens)
    return org


def settle(janus: JanusProcess) -> None:
    """Stop and start Janus: it settles everything queued before it exits."""
    janus.stop()
    janus.start()


def test_a_grant_to_acme_quoter_is_not_a_grant_to_any_quoter(janus: JanusProcess, wallet: WalletServer,
                                                              upstream: RecordingUpstream) -> None:
    """Finding 2: `serviceId: quoter` with `programId: attacker` billed an org that granted acme's quoter."""
    acme, victim, attacker = funded(wallet, "acme"), funded(wallet, "victim"), funded(wallet, "attacker")
    wallet.client.create_wallet("insureco")  # docman's owner, credited for the call
    wallet.client.put_bill_grants(victim, [Grant(acme, "quoter")])
    impostor = httpx.post(janus.proxy("docman", "/documents"),
                          headers={**janus.auth(attacker, "quoter"), "X-Bill-Org": victim})
    assert impostor.status_code == 403 and impostor.json()["error"] == "BILL_ORG_NOT_GRANTED"
    assert upstream.seen == []
    granted = httpx.post(janus.proxy("docman", "/documents"),
                         headers={**janus.auth(acme, "quoter"), "X-Bill-Org": victim})
    assert granted.status_code == 200 and upstream.last.header("X-Caller-Org") == victim
    settle(janus)
    assert api_tokens(wallet, victim) == 5 and api_tokens(wallet, attacker) == 0
    assert purchased(wallet, acme) == 1000


def test_a_program_id_that_looks_like_a_wallet_id_is_refused(janus: JanusProcess, wallet: WalletServer,
                                                             upstream: RecordingUpstream) -> None:
    """Finding 3: a caller whose programId was `wallet-victim` was charged to org victim."""
    victim = funded(wallet, "victim")
    r = httpx.post(janus.proxy("docman", "/documents"), headers=janus.auth(f"wallet-{victim}", "quoter"))
    assert r.status_code == 401 and r.json()["error"] == "INVALID_TOKEN"
    assert "programId" in r.json()["message"] and upstream.seen == []
    settle(janus)
    assert api_tokens(wallet, victim) == 0 and purchased(wallet, victim) == 1000


@pytest.mark.parametrize("bill_org", ["{v}?a=1", "x/../../admin/integrity?1", "{v}%2f..%2f", "{v}#x", "{v}/x",
                                      "wallet-{v}", "x" * 200])
def test_a_crafted_x_bill_org_is_refused_before_any_use(janus: JanusProcess, wallet: WalletServer,
                                                        upstream: RecordingUpstream, bill_org: str) -> None:
    """Finding 4: an intro-only org got free 200s by sending `X-Bill-Org: victim?a=1`."""
    victim, caller = funded(wallet, "introonly", tokens=0), funded(wallet, "caller")
    value = bill_org.format(v=victim)
    r = httpx.post(janus.proxy("docman", "/documents"), headers={**janus.auth(caller, "quoter"),
                                                                  "X-Bill-Org": value})
    assert r.status_code == 400 and r.json()["error"] == "INVALID_BILL_ORG"
    assert value not in r.text  # 400 bodies never echo input
    assert upstream.seen == []


def test_an_intro_only_org_is_never_served_free_through_x_bill_org(janus: JanusProcess, wallet: WalletServer,
                                                                   upstream: RecordingUpstream) -> None:
    """Finding 4, the money: resent many times, nothing is forwarded unbilled."""
    caller = funded(wallet, "caller", tokens=0)
    statuses = {httpx.post(janus.proxy("docman", "/documents"),
                           headers={**janus.auth(caller, "quoter"), "X-Bill-Org": f"{caller}?a={i}"}).status_code
                for i in range(20)}
    statuses.add(httpx.post(janus.proxy("docman", "/documents"), headers=janus.auth(caller, "quoter")).status_code)
    assert statuses == {400, 402} and upstream.seen == []


def hs256(payload: dict[str, object]) -> str:
    return jwt.encode({"aud": "janus", "programId": "acme", "serviceId": "quoter", **payload}, TEST_JWT_SECRET,
                      algorithm="HS256")


@pytest.mark.parametrize(("why", "payload"), [
    ("a hundred years ahead", {"exp": int(time.time()) + 100 * 365 * 86_400}),
    ("exp as a string", {"exp": str(int(time.time()) + 300)}),
    ("iat as a string", {"exp": int(time.time()) + 300, "iat": str(int(time.time()))}),
    ("issued long ago, valid for longer than the maximum", {"iat": int(time.time()) - 3 * 86_400,
                                                             "exp": int(time.time()) + 60}),
])
def test_service_jwts_have_a_numeric_bounded_lifetime(janus: JanusProcess, upstream: RecordingUpstream,
                                                      why: str, payload: dict[str, object]) -> None:
    """Finding 10: such tokens were accepted."""
    r = httpx.get(janus.proxy("docman", "/documents"), headers={"Authorization": f"Bearer {hs256(payload)}"})
    assert r.status_code == 401 and r.json()["error"] == "INVALID_TOKEN", why
    assert upstream.seen == []


def test_a_configured_issuer_is_required(janus_factory: Callable[..., JanusProcess], wallet: WalletServer,
                                         upstream: RecordingUpstream) -> None:
    org = funded(wallet, "issued")
    strict = janus_factory(env={"TAWA_JANUS_JWT_ISSUER": "https://tokens.example"}, wallet=wallet)
    good = service_token(org, "quoter", iss="https://tokens.example")
    for token, expected in ((service_token(org, "quoter"), 401),
                            (service_token(org, "quoter", iss="https://evil.example"), 401), (good, 200)):
        r = httpx.get(strict.proxy("docman", "/documents"), headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == expected, r.text
