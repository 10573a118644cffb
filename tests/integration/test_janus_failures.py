"""Crashes and outages: the wallet dies under traffic, Janus dies under traffic.

The invariant in every case: each 2xx answer the callers received is charged
exactly once (matched by request id to the wallet's gas events), nothing that
was not a 2xx is charged, and no hold outlives its TTL. A Janus crash loses no
charge either: each 2xx is in its worker's journal before the caller sees it.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable

import httpx
import pytest

from tests.fixtures.janus import JanusProcess, Traffic, all_gas_events, wait_until
from tests.fixtures.wallet import WalletServer

PRICE = 5  # docman POST /documents


@pytest.fixture
def orgs(wallet: WalletServer) -> WalletServer:
    for org in ("acme", "insureco"):
        wallet.client.create_wallet(org)
    wallet.client.purchase("acme", 100_000)
    return wallet


def charged_ids(wallet: WalletServer) -> list[str]:
    return [e.request_id for e in all_gas_events(wallet.client, org="acme")]


def metric(janus: JanusProcess, name: str) -> float:
    for line in httpx.get(f"{janus.url}/metrics").text.splitlines():
        if line.startswith(name):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_wallet_killed_mid_traffic_then_restarted_charges_every_2xx_once(
        janus_factory: Callable[..., JanusProcess], orgs: WalletServer) -> None:
    janus = janus_factory(env={"TAWA_JANUS_FAIL_OPEN_CAP": "1000000"})
    traffic = Traffic(janus.proxy("docman", "/documents"), janus.auth("acme", "quoter"), method="POST").start()
    wait_until(lambda: len(traffic.ok_ids()) >= 50, what="traffic before the crash")
    orgs.kill()  # SIGKILL: whatever was in flight to the wallet is lost
    during = len(traffic.answers)
    wait_until(lambda: len(traffic.answers) >= during + 100, what="traffic while the wallet is down")
    assert metric(janus, "janus_fail_open_total") > 0
    orgs.start()  # same database, same port
    after = len(traffic.answers)
    wait_until(lambda: len(traffic.answers) >= after + 50, what="traffic after the restart")
    traffic.stop()

    ok = traffic.ok_ids()
    assert traffic.statuses().keys() == {200}, traffic.statuses()
    wait_until(lambda: len(charged_ids(orgs)) >= len(ok), timeout=30, what="the spool to drain")
    time.sleep(1.0)  # anything charged twice would show up by now
    charged = charged_ids(orgs)
    assert Counter(charged).most_common(1)[0][1] == 1, "a request was charged twice"
    assert sorted(charged) == sorted(ok)
    print("wallet-kill:", len(ok), "ok;", metric(janus, "janus_fail_open_total"), "fail-open;",
          metric(janus, "janus_spooled_charges_total"), "spooled")
    assert orgs.client.get_wallet("acme").balances.purchased == 100_000 - PRICE * len(ok)
    assert orgs.client.get_wallet("insureco").balances.earned == PRICE * len(ok)


def test_janus_killed_mid_traffic_holds_expire_and_nothing_is_charged_twice(
        janus_factory: Callable[..., JanusProcess], orgs: WalletServer) -> None:
    # A short TTL so that the crashed process's holds expire within the test.
    janus = janus_factory(env={"TAWA_JANUS_HOLD_TTL": "10", "TAWA_JANUS_HOLD_CHUNK": "50"})
    traffic = Traffic(janus.proxy("docman", "/documents"), janus.auth("acme", "quoter"), method="POST").start()
    wait_until(lambda: len(traffic.ok_ids()) >= 60, what="traffic before the crash")
    janus.kill()
    time.sleep(0.3)
    traffic.stop()
    assert orgs.client.get_wallet("acme").held > 0  # the dead process's holds are still there...
    janus.start()  # same data dir: its journal is settled with the same keys
    ok = traffic.ok_ids()
    wait_until(lambda: set(ok) <= set(charged_ids(orgs)), timeout=30, what="every delivered 2xx charged")
    wait_until(lambda: orgs.client.get_wallet("acme").held == 0, timeout=30, what="holds to expire")

    charged = charged_ids(orgs)
    assert Counter(charged).most_common(1)[0][1] == 1, "a request was charged twice"
    # Beyond the delivered 2xx, only calls whose 2xx was journalled as Janus died, before
    # the caller read it: at most one per caller thread.
    assert len(set(charged) - set(ok)) <= traffic.threads
    wallet = orgs.client.get_wallet("acme")
    assert wallet.balances.purchased == 100_000 - PRICE * len(charged)
    assert wallet.available.api == wallet.balances.purchased  # nothing stays locked


def test_fail_open_is_capped_per_org_and_settled_when_the_wallet_returns(
        janus_factory: Callable[..., JanusProcess], orgs: WalletServer) -> None:
    janus = janus_factory(env={"TAWA_JANUS_FAIL_OPEN_CAP": "12", "TAWA_JANUS_HOLD_CHUNK": "5"})
    auth = janus.auth("acme", "quoter")
    url = janus.proxy("docman", "/documents")
    assert httpx.post(url, headers=auth).status_code == 200
    time.sleep(0.3)
    orgs.kill()
    answers = []
    for _ in range(20):  # what is left of the open holds, then fail-open up to the cap, then 503
        answers.append(httpx.post(url, headers=auth))
        if answers[-1].status_code != 200:
            break
    assert answers[-1].status_code == 503 and answers[-1].json()["error"] == "WALLET_UNAVAILABLE"
    assert metric(janus, "janus_fail_open_total") == 2  # 2 × 5 ≤ 12 < 3 × 5
    # Free routes are not metered, so an outage does not limit them.
    assert httpx.get(janus.proxy("docman", "/health"), headers=auth).status_code == 200
    ok = 1 + len(answers) - 1
    orgs.start()
    wait_until(lambda: len(charged_ids(orgs)) == ok, timeout=30, what="the spooled charges")
    assert orgs.client.get_wallet("acme").balances.purchased == 100_000 - PRICE * ok
    # The exposure is paid off: fail-open is possible again, and calls go through normally.
    assert httpx.post(url, headers=auth).status_code == 200


def test_spooled_charges_survive_a_janus_restart(janus_factory: Callable[..., JanusProcess],
                                                 orgs: WalletServer) -> None:
    janus = janus_factory(env={"TAWA_JANUS_HOLD_CHUNK": "5"})
    auth = janus.auth("acme", "quoter")
    url = janus.proxy("docman", "/documents")
    orgs.kill()
    ids = [httpx.post(url, headers=auth).headers["X-Request-ID"] for _ in range(3)]
    janus.kill()  # a crash while the charges are only in the spool
    orgs.start()
    janus.start()
    wait_until(lambda: sorted(charged_ids(orgs)) == sorted(ids), timeout=30, what="spooled charges after restart")
    assert orgs.client.get_wallet("acme").balances.purchased == 100_000 - 15


def test_a_janus_kill_right_after_a_2xx_still_charges_it_once(janus_factory: Callable[..., JanusProcess],
                                                              orgs: WalletServer) -> None:
    # A long settle interval: the charge is surely still only in Janus when it dies.
    janus = janus_factory(env={"TAWA_JANUS_SETTLE_INTERVAL": "5"})
    r = httpx.post(janus.proxy("docman", "/documents"), headers=janus.auth("acme", "quoter"))
    assert r.status_code == 200
    janus.kill()
    assert charged_ids(orgs) == []
    janus.start()  # the journal it left is settled with the same key, against the same hold
    wait_until(lambda: charged_ids(orgs) == [r.headers["X-Request-ID"]], timeout=20, what="the journalled charge")
    janus.kill()
    janus.start()  # nothing left to recover: never twice
    time.sleep(1.0)
    assert charged_ids(orgs) == [r.headers["X-Request-ID"]]
    assert orgs.client.get_wallet("acme").balances.purchased == 100_000 - PRICE
