"""The SQL store in-process on SQLite: migrations, the integrity check, expiry sweep,
in-flight keys, and the domain's refusals."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from tawa.wallet import domain as d
from tawa.wallet.schema import metadata
from tawa.wallet.store import Store

T0 = 1_800_000_000 * d.MICROS


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> int:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: Path, clock: Clock) -> Store:
    s = Store(f"sqlite:///{tmp_path}/w.db", clock=clock)
    s.apply([("c1", d.CreateWallet("acme")), ("c2", d.CreateWallet("prov")), ("p", d.Purchase("wallet-acme", 500))])
    return s


def test_migrations_create_exactly_the_schema(store: Store) -> None:
    with store.writer.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []


def test_sqlite_runs_in_wal_with_full_sync(store: Store) -> None:
    with store.writer.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000


def test_restarting_on_the_same_database_keeps_everything(tmp_path: Path, store: Store) -> None:
    again = Store(store.url)
    assert again.get_wallet("wallet-acme")["balances"]["purchased"] == 500
    assert again.integrity()["ok"]


def test_integrity_check_catches_tampering(store: Store) -> None:
    assert store.integrity() == {"ok": True, "problems": [], "counts": store.integrity()["counts"]}
    with store.writer.begin() as conn:
        conn.execute(text("UPDATE accounts SET balance = balance + 7 WHERE id = 'wallet-acme:purchased'"))
    problems = store.integrity()["problems"]
    assert any("wallet-acme:purchased balance 507 != sum of its entries 500" in p for p in problems)
    assert any("accounts sum to 7" in p for p in problems)
    with store.writer.begin() as conn:
        conn.execute(text("UPDATE accounts SET balance = balance - 7 WHERE id = 'wallet-acme:purchased'"))
        conn.execute(text("UPDATE ledger_entries SET amount = amount + 1 WHERE id = 1"))
    assert any("entries sum to 1" in p for p in store.integrity()["problems"])


def test_sweep_expires_abandoned_holds(store: Store, clock: Clock) -> None:
    hold = store.apply([("h", d.PlaceHold("wallet-acme", 200, 10))])[0].body
    assert store.get_wallet("wallet-acme")["held"] == 200
    clock.now += 11 * d.MICROS
    assert store.get_wallet("wallet-acme")["held"] == 0  # overdue holds no longer count, even before the sweep
    assert store.sweep() == 1
    assert store.sweep() == 0
    ledger = store.ledger("wallet-acme", 1, None, None, None)["transactions"][0]
    assert (ledger["type"], ledger["amount"], ledger["hold"], ledger["entries"]) == ("expiry", 200, hold["id"], [])
    assert store.integrity()["ok"]


def test_sweep_forgets_idempotency_keys_only_after_retention(store: Store, clock: Clock) -> None:
    first = store.apply([("buy", d.Purchase("wallet-acme", 5))])[0]
    clock.now += 23 * 3600 * d.MICROS
    store.sweep(idempotency_hours=24)
    assert store.apply([("buy", d.Purchase("wallet-acme", 5))])[0] == d.Outcome(first.status, first.body, replayed=True)
    clock.now += 2 * 3600 * d.MICROS
    store.sweep(idempotency_hours=24)
    fresh = store.apply([("buy", d.Purchase("wallet-acme", 5))])[0]
    assert fresh.body["transaction"]["id"] != first.body["transaction"]["id"] and not fresh.replayed


def test_a_key_still_running_gets_409(store: Store) -> None:
    claimed, _ = store._claim(["busy-key"])
    try:
        out = store.apply([("busy-key", d.Purchase("wallet-acme", 5)), ("free", d.Purchase("wallet-acme", 1))])
    finally:
        store._unclaim(claimed)
    assert [o.status for o in out] == [409, 201]
    assert out[0].body["error"] == "IDEMPOTENCY_IN_FLIGHT"
    assert store.get_wallet("wallet-acme")["balances"]["purchased"] == 501


def test_one_batch_with_the_same_key_twice_applies_once(store: Store) -> None:
    out = store.apply([("k", d.Purchase("wallet-acme", 5)), ("k", d.Purchase("wallet-acme", 5)),
                       ("k", d.Purchase("wallet-acme", 6))])
    assert (out[0].status, out[0].body) == (out[1].status, out[1].body) and out[2].status == 422
    assert (out[0].replayed, out[1].replayed) == (False, True)
    assert store.get_wallet("wallet-acme")["balances"]["purchased"] == 505


def test_hold_never_uses_intro_and_settlement_pays_purchased_then_earned(store: Store) -> None:
    out = store.apply([("h1", d.PlaceHold("wallet-prov", 1, 60))])[0]
    assert out.status == 402 and out.body["available"] == 0
    hold = store.apply([("h2", d.PlaceHold("wallet-acme", 500, 60))])[0].body["id"]
    store.apply([("s1", d.Settle(hold, "wallet-prov", 100, "s", "/", "GET", "r1"))])
    prov_hold = store.apply([("h3", d.PlaceHold("wallet-prov", 100, 60))])[0].body["id"]
    assert store.apply([("p2", d.Purchase("wallet-prov", 30))])[0].status == 201
    paid = store.apply([("s2", d.Settle(prov_hold, "wallet-acme", 50, "s", "/", "GET", "r2"))])[0].body["paidFrom"]
    assert paid == {"purchased": 30, "earned": 20}


@pytest.mark.parametrize("amount", [0, -5, 2.5, "10", True, None, 2**53 + 1])
def test_domain_refuses_bad_amounts_without_coercion(store: Store, amount: object) -> None:
    out = store.apply([("bad", d.Purchase("wallet-acme", amount))])[0]  # type: ignore[arg-type]
    assert (out.status, out.body["error"], out.body["field"]) == (422, "INVALID_AMOUNT", "tokens")
    assert store.get_wallet("wallet-acme")["balances"]["purchased"] == 500


def test_split_follows_spend_order() -> None:
    balances = {"intro": 10, "purchased": 5, "earned": 100}
    assert d.split(balances, d.HOSTING_ORDER, 17) == {"intro": 10, "purchased": 5, "earned": 2}
    assert d.split(balances, d.API_ORDER, 17) == {"purchased": 5, "earned": 12}
    with pytest.raises(AssertionError):
        d.split(balances, d.API_ORDER, 106)
