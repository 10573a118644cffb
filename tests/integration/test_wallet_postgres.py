"""The ledger model over HTTP against real servers on PostgreSQL and on SQLite, and the
PostgreSQL schema checks. The big in-process run is tests/unit/test_wallet_model.py;
this one is smaller because every step is real HTTP and real SQL."""

from __future__ import annotations

import json
import os
import random
import string
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from hypothesis import HealthCheck, settings
from hypothesis.stateful import run_state_machine_as_test

from tawa.wallet import domain as d
from tawa.wallet.schema import metadata
from tawa.wallet.store import MIGRATIONS, Store
from tests.fixtures.postgres import PgCluster
from tests.fixtures.wallet import WalletServer
from tests.unit.test_wallet_model import ORGS, LedgerMachine

HTTP_EXAMPLES = max(5, int(os.environ.get("TAWA_HYPOTHESIS_EXAMPLES", 1000)) // 100)


class HttpBackend:
    """Sends the model's commands as HTTP requests. Each example gets its own org names
    (a random prefix with no hex letters, so it never appears inside generated ids)."""

    has_clock = False

    def __init__(self, server: WalletServer) -> None:
        self.server = server
        # SystemRandom: hypothesis seeds the `random` module identically for every example.
        self.prefix = "p" + "".join(random.SystemRandom().choices(string.ascii_lowercase[6:], k=10)) + "-"
        self.http = httpx.Client(base_url=server.url, timeout=30, headers={"Authorization": f"Bearer {server.token}"})

    def _wid(self, wid: str) -> str:
        return wid.replace("wallet-", f"wallet-{self.prefix}", 1)

    def _request(self, cmd: d.Command) -> tuple[str, dict[str, Any] | None]:
        match cmd:
            case d.CreateWallet(org=org):
                return "/v1/wallets", {"org": self.prefix + org}
            case d.Purchase(wallet=w, tokens=t):
                return f"/v1/wallets/{self._wid(w)}/purchases", {"tokens": t}
            case d.HostingCharge(wallet=w, component=comp, hour=hour, tokens=t, tier=tier, pods=pods):
                return f"/v1/wallets/{self._wid(w)}/hosting-charges", {
                    "component": comp, "hour": hour, "tokens": t, "tier": tier, "pods": pods}
            case d.PlaceHold(wallet=w, tokens=t, ttl_seconds=ttl):
                # No fake clock here: long TTLs so that no hold expires mid-example.
                return "/v1/holds", {"wallet": self._wid(w), "tokens": t, "ttlSeconds": ttl + 3600}
            case d.Settle(hold=h, provider=p, tokens=t, service=s, route=r, method=m, request_id=q):
                return f"/v1/holds/{h}/settle", {"provider": self._wid(p), "tokens": t, "service": s, "route": r,
                                                 "method": m, "requestId": q}
            case d.Release(hold=h):
                return f"/v1/holds/{h}/release", None
            case d.CheckReserve(wallet=w, tier=tier, replicas=n):
                return f"/v1/wallets/{self._wid(w)}/check-reserve", {"tier": tier, "replicas": n}
            case d.Reverse(txn=t):
                return f"/v1/transactions/{t}/reversals", None
        raise AssertionError(cmd)

    def _answer(self, r: httpx.Response) -> dict[str, Any]:
        return json.loads(r.text.replace(self.prefix, ""))  # type: ignore[no-any-return]

    def apply(self, key: str, cmd: d.Command) -> d.Outcome:
        path, body = self._request(cmd)
        r = self.http.post(path, json=body, headers={"Idempotency-Key": key})
        return d.Outcome(r.status_code, self._answer(r))

    def views(self) -> dict[str, dict[str, Any]]:
        out = {}
        for org in ORGS:
            r = self.http.get(f"/v1/wallets/wallet-{self.prefix}{org}")
            if r.status_code == 200:
                out[f"wallet-{org}"] = self._answer(r)
        return out

    def problems(self) -> list[str]:
        return list(self.http.get("/v1/admin/integrity").json()["problems"])

    def close(self) -> None:
        self.http.close()


def run_model_over_http(server: WalletServer) -> None:
    class HttpMachine(LedgerMachine):
        def make_backend(self) -> Any:
            return HttpBackend(server)

    run_state_machine_as_test(HttpMachine, settings=settings(
        max_examples=HTTP_EXAMPLES, stateful_step_count=20, deadline=None, database=None,
        suppress_health_check=[HealthCheck.too_slow]))


def test_ledger_model_over_http_on_postgres(wallet_pg: WalletServer) -> None:
    run_model_over_http(wallet_pg)
    assert wallet_pg.client.integrity().ok


def test_ledger_model_over_http_on_sqlite(wallet: WalletServer) -> None:
    run_model_over_http(wallet)
    assert wallet.client.integrity().ok


@pytest.fixture
def pg_store(postgres_cluster: PgCluster) -> Store:
    return Store(postgres_cluster.create_database())


def test_postgres_migrations_create_exactly_the_schema(pg_store: Store) -> None:
    with pg_store.writer.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []
    Store(pg_store.url)  # a second start (another replica) migrates nothing and fails nothing


def test_postgres_integrity_check_catches_tampering(pg_store: Store) -> None:
    pg_store.apply([("c", d.CreateWallet("acme")), ("p", d.Purchase("wallet-acme", 50))])
    assert pg_store.integrity()["ok"]
    from sqlalchemy import text

    with pg_store.writer.begin() as conn:
        conn.execute(text("UPDATE accounts SET balance = -1 WHERE id = 'wallet-acme:purchased'"))
    problems = pg_store.integrity()["problems"]
    assert any("purchased balance is negative" in p for p in problems)


def test_postgres_retries_instead_of_failing_on_conflicting_creates(wallet_factory: Callable[..., WalletServer],
                                                                    postgres_cluster: PgCluster) -> None:
    """Two servers on one database (two replicas) race to create the same wallets."""
    import threading

    url = postgres_cluster.create_database()
    servers = [wallet_factory(url), wallet_factory(url)]
    results: list[int] = []

    def create(s: WalletServer, i: int) -> None:
        r = httpx.post(f"{s.url}/v1/wallets", json={"org": f"race{i % 5}"}, headers=s.headers(f"k{i}"))
        results.append(r.status_code)

    threads = [threading.Thread(target=create, args=(servers[i % 2], i)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results).count(201) == 5 and set(results) == {200, 201}
    assert servers[0].client.integrity().ok
    assert servers[0].client.get_wallet("race0").total == 50_000


def _upgrade(store: Store, revision: str, down: bool = False) -> None:
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with store.writer.begin() as conn:
        cfg.attributes["connection"] = conn
        (command.downgrade if down else command.upgrade)(cfg, revision)


@pytest.mark.parametrize("db", ["sqlite", "postgres"])
def test_upgrading_drops_bare_name_grants_with_a_warning_per_wallet(
        db: str, request: pytest.FixtureRequest, tmp_path: Any, wallet_factory: Callable[..., WalletServer]) -> None:
    """Migration 0002: a grant of a bare service name cannot be tied to an owner, so it is dropped
    (never guessed), each wallet's dropped names are logged, and the schema ends as the metadata says."""
    url = (f"sqlite:///{tmp_path}/old.db" if db == "sqlite"
           else request.getfixturevalue("postgres_cluster").create_database())
    old = Store(url)  # wallets written by today's code, then the schema taken back to 0001 (later
    old.apply([("c1", d.CreateWallet("acme")), ("c2", d.CreateWallet("bigcorp"))])  # columns would not fit)
    _upgrade(old, "0001", down=True)  # a wallet database as the 0001 release left it
    from sqlalchemy import text

    with old.writer.begin() as conn:
        conn.execute(text("INSERT INTO bill_grants (wallet_id, service) VALUES "
                          "('wallet-bigcorp', 'quoter'), ('wallet-bigcorp', 'docman'), ('wallet-acme', 'relay')"))
    old.close()

    server = wallet_factory(url)  # the new release migrates on start
    warnings = [json.loads(line) for line in server.log().splitlines() if "bill grants dropped" in line]
    assert sorted((w["wallet"], w["services"]) for w in warnings) == [
        ("wallet-acme", ["relay"]), ("wallet-bigcorp", ["docman", "quoter"])]
    assert all(w["level"] == "warning" and "tawa wallet grants" in w["message"] for w in warnings)
    http = httpx.Client(base_url=server.url, headers=server.headers())
    assert http.get("/v1/wallets/wallet-bigcorp/bill-grants").json() == {"wallet": "wallet-bigcorp", "grants": []}
    put = http.put("/v1/wallets/wallet-bigcorp/bill-grants", json={"grants": [{"org": "acme", "service": "quoter"}]})
    assert put.status_code == 200 and put.json()["grants"] == [{"org": "acme", "service": "quoter"}]
    assert server.client.get_wallet("bigcorp").total == 50_000  # the ledger is untouched
    http.close()
    server.stop()
    upgraded = Store(url, migrate_on_start=False)
    with upgraded.writer.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []
    upgraded.close()
