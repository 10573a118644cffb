"""Model-based test of the ledger: hypothesis drives random commands against a backend
and checks every answer and balance against a small independent reference model, and
the ledger's own integrity after every step.

Checked after every step: entries of every transaction sum to zero, stored balances
equal the sum of their entries, no balance is negative, held ≤ purchased + earned
(holds + debits never exceed funds); on every answer: spend order (hosting: intro →
purchased → earned; API gas: purchased → earned, never intro), 402 leaves balances
untouched, replays return the first answer.

The big run (TAWA_HYPOTHESIS_EXAMPLES, default 1000 × 50 steps) is in-process on
`MemoryLedger` (the same `Book` rules the SQL store runs); smaller runs go through
the real SQLite store here, and through HTTP on PostgreSQL in
tests/integration/test_wallet_postgres.py (`LedgerMachine` is reused there).
"""

from __future__ import annotations

import os
import tempfile
import uuid
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from tawa.gas.tiers import get_tier
from tawa.refusal import Refusal
from tawa.wallet import domain as d
from tawa.wallet.store import Store
from tawa.wallet.testing import MemoryLedger
from tawa.wallet.views import wallet_view

EXAMPLES = int(os.environ.get("TAWA_HYPOTHESIS_EXAMPLES", 1000))
ORGS = ("a", "b", "c")
BAD_AMOUNTS = (0, -1, 1.5, 2.0, "5", True, None, 2**53 + 1)
T0 = 1_800_000_000 * d.MICROS


class MemoryBackend:
    """MemoryLedger with a fake clock."""

    has_clock = True

    def __init__(self) -> None:
        self.ledger = MemoryLedger()
        self.now = T0

    def apply(self, key: str, cmd: d.Command) -> d.Outcome:
        return self.ledger.apply([(key, cmd)], self.now)[0]

    def views(self) -> dict[str, dict[str, Any]]:
        self.ledger.apply([], self.now)  # expires overdue holds, as any request would
        return {w.id: wallet_view(w) for w in self.ledger.wallets.values()}

    def problems(self) -> list[str]:
        return d.integrity_problems(self.ledger.facts())

    def advance(self, seconds: int) -> None:
        self.now += seconds * d.MICROS

    def close(self) -> None:
        pass


class StoreBackend(MemoryBackend):
    """The real SQL store (SQLite file) with a fake clock."""

    def __init__(self, url: str | None = None) -> None:
        self.now = T0
        self._tmp = tempfile.TemporaryDirectory() if url is None else None
        self.store = Store(url or f"sqlite:///{self._tmp.name}/w.db", clock=lambda: self.now)  # type: ignore[union-attr]

    def apply(self, key: str, cmd: d.Command) -> d.Outcome:
        return self.store.apply([(key, cmd)])[0]

    def views(self) -> dict[str, dict[str, Any]]:
        return {f"wallet-{o}": self.store.get_wallet(f"wallet-{o}") for o in ORGS if self._exists(o)}

    def _exists(self, org: str) -> bool:
        try:
            self.store.get_wallet(f"wallet-{org}")
            return True
        except Refusal:
            return False

    def problems(self) -> list[str]:
        return list(self.store.integrity()["problems"])

    def close(self) -> None:
        self.store.close()
        if self._tmp is not None:
            self._tmp.cleanup()


class Ref:
    """The reference: plain arithmetic on four numbers per wallet, written independently of `Book`."""

    def __init__(self) -> None:
        self.w: dict[str, dict[str, int]] = {}
        self.holds: dict[str, dict[str, Any]] = {}

    def expire(self, now: int) -> None:
        for h in self.holds.values():
            if h["status"] == "open" and now >= h["expires"]:
                self.w[h["wallet"]]["held"] -= h["remaining"]
                h["status"], h["remaining"] = "expired", 0

    def view(self, wid: str) -> dict[str, Any]:
        w = self.w[wid]
        total = w["intro"] + w["purchased"] + w["earned"]
        return {"id": wid, "org": wid[len("wallet-"):],
                "balances": {t: w[t] for t in d.TOKEN_TYPES}, "held": w["held"], "total": total,
                "available": {"hosting": total - w["held"], "api": w["purchased"] + w["earned"] - w["held"]}}


def _valid(amount: object) -> bool:
    return type(amount) is int and 1 <= amount <= 2**53


class LedgerMachine(RuleBasedStateMachine):
    """Override `make_backend` to run the same model against another backend."""

    def make_backend(self) -> Any:
        return MemoryBackend()

    def __init__(self) -> None:
        super().__init__()
        self.backend = self.make_backend()
        self.ref = Ref()
        self.done: list[tuple[str, d.Command, d.Outcome]] = []  # successful answers, for replays
        self.reversed: set[int] = set()  # originals reversed by this run
        self.reversals: set[int] = set()  # the reversal transactions themselves

    def teardown(self) -> None:
        self.backend.close()

    # ------------------------------------------------------------ helpers

    def send(self, cmd: d.Command, key: str | None = None) -> d.Outcome:
        key = key or uuid.uuid4().hex
        out = self.backend.apply(key, cmd)
        if out.ok:
            self.done.append((key, cmd, out))
        return out

    def now(self) -> int:
        return getattr(self.backend, "now", 0)

    def sync_expiry(self) -> None:
        if self.backend.has_clock:
            self.ref.expire(self.now())

    # ------------------------------------------------------------ rules

    @initialize()
    def two_funded_wallets(self) -> None:
        """a and b, each with purchased tokens; b has also earned some from a (so both API types exist)."""
        for org in ORGS[:2]:
            self.create(org)
            self.purchase(org, 1_000)
        self.hold("a", 500, 1_000)
        self._settle(max(self.ref.holds), "b", 100)

    @rule(org=st.sampled_from(ORGS))
    def create(self, org: str) -> None:
        wid = f"wallet-{org}"
        existed = wid in self.ref.w
        out = self.send(d.CreateWallet(org))
        assert out.status == (200 if existed else 201), out
        if not existed:
            self.ref.w[wid] = {"intro": d.INTRO_GRANT, "purchased": 0, "earned": 0, "held": 0}

    @rule(org=st.sampled_from(ORGS), tokens=st.one_of(st.integers(1, 5_000), st.sampled_from(BAD_AMOUNTS)))
    def purchase(self, org: str, tokens: Any) -> None:
        wid = f"wallet-{org}"
        out = self.send(d.Purchase(wid, tokens))
        if not _valid(tokens):
            assert out.status == 422 and out.body["field"] == "tokens", out
        elif wid not in self.ref.w:
            assert out.status == 404 and out.body["error"] == "WALLET_NOT_FOUND", out
        else:
            assert out.status == 201, out
            self.ref.w[wid]["purchased"] += tokens

    @rule(org=st.sampled_from(ORGS), tokens=st.integers(1, 60_000))
    def hosting(self, org: str, tokens: int) -> None:
        wid = f"wallet-{org}"
        self.sync_expiry()
        out = self.send(d.HostingCharge(wid, "comp", f"h-{uuid.uuid4().hex[:6]}", tokens, "nano", 1))
        if wid not in self.ref.w:
            assert out.status == 404, out
            return
        w = self.ref.w[wid]
        available = w["intro"] + w["purchased"] + w["earned"] - w["held"]
        if tokens > available:
            assert out.status == 402, out
            assert (out.body["required"], out.body["available"]) == (tokens, available)
            return
        assert out.status == 201, out
        expected, left = {}, tokens
        for t in ("intro", "purchased", "earned"):  # spend order for hosting
            take = min(left, w[t])
            if take:
                expected[t], left = take, left - take
                w[t] -= take
        debits = {e["tokenType"]: -e["amount"] for e in out.body["transaction"]["entries"] if e["wallet"] == wid}
        assert debits == expected

    @rule(org=st.sampled_from(ORGS), tokens=st.one_of(st.integers(1, 3_000), st.sampled_from(BAD_AMOUNTS)),
          ttl=st.integers(1, 100))
    def hold(self, org: str, tokens: Any, ttl: int) -> None:
        wid = f"wallet-{org}"
        self.sync_expiry()
        out = self.send(d.PlaceHold(wid, tokens, ttl))
        if not _valid(tokens):
            assert out.status == 422, out
            return
        if wid not in self.ref.w:
            assert out.status == 404, out
            return
        w = self.ref.w[wid]
        api = w["purchased"] + w["earned"] - w["held"]  # intro never backs API gas
        if tokens > api:
            assert out.status == 402 and out.body["available"] == api, out
            return
        assert out.status == 201 and out.body["remaining"] == tokens, out
        w["held"] += tokens
        self.ref.holds[out.body["id"]] = {"wallet": wid, "remaining": tokens, "status": "open",
                                          "expires": self.now() + ttl * d.MICROS,
                                          "n": len(self.ref.holds)}

    def _pick_hold(self, data: st.DataObject) -> str:
        """Mostly a known hold (newest first), sometimes one that does not exist."""
        known = sorted(self.ref.holds, key=lambda h: -self.ref.holds[h]["n"])
        i = data.draw(st.integers(0, len(known)))
        return known[i - 1] if i else "hold-unknown"

    @rule(data=st.data(), provider=st.sampled_from(ORGS), tokens=st.integers(1, 2_000))
    def settle(self, data: st.DataObject, provider: str, tokens: int) -> None:
        self._settle(self._pick_hold(data), provider, tokens)

    def _settle(self, hid: str, provider: str, tokens: int) -> None:
        pid = f"wallet-{provider}"
        self.sync_expiry()
        out = self.send(d.Settle(hid, pid, tokens, "svc", "/r", "POST", uuid.uuid4().hex))
        h = self.ref.holds.get(hid)
        if h is None:
            assert out.status == 404 and out.body["error"] == "HOLD_NOT_FOUND", out
        elif h["status"] != "open":
            assert out.status == 409 and out.body["error"] == f"HOLD_{h['status'].upper()}", out
        elif pid not in self.ref.w:
            assert out.status == 404 and out.body["field"] == "provider", out
        elif tokens > h["remaining"]:
            assert out.status == 422 and out.body["error"] == "HOLD_EXCEEDED", out
        else:
            assert out.status == 200, out
            caller = self.ref.w[h["wallet"]]
            expected, left = {}, tokens
            for t in ("purchased", "earned"):  # API gas: never intro
                take = min(left, caller[t])
                if take:
                    expected[t], left = take, left - take
                    caller[t] -= take
            assert left == 0, "a hold must always be settleable"
            assert out.body["paidFrom"] == expected
            h["remaining"] -= tokens
            caller["held"] -= tokens
            self.ref.w[pid]["earned"] += tokens

    @rule(data=st.data())
    def release(self, data: st.DataObject) -> None:
        hid = self._pick_hold(data)
        self.sync_expiry()
        out = self.send(d.Release(hid))
        h = self.ref.holds.get(hid)
        if h is None:
            assert out.status == 404, out
            return
        assert out.status == 200, out
        if h["status"] == "open":
            self.ref.w[h["wallet"]]["held"] -= h["remaining"]
            h["status"], h["remaining"] = "released", 0
        assert out.body["status"] == h["status"] and out.body["remaining"] == 0

    @rule(org=st.sampled_from(ORGS), tier=st.sampled_from(["nano", "small", "medium", "large", "xlarge"]),
          replicas=st.integers(1, 3))
    def check_reserve(self, org: str, tier: str, replicas: int) -> None:
        wid = f"wallet-{org}"
        self.sync_expiry()
        out = self.send(d.CheckReserve(wid, tier, replicas))
        if wid not in self.ref.w:
            assert out.status == 404
            return
        view = self.ref.view(wid)
        required = get_tier(tier).reserve(replicas)
        balance = view["available"]["hosting"]
        assert out.body == {"wallet": wid, "tier": tier, "replicas": replicas, "ok": balance >= required,
                            "balance": balance, "required": required, "shortfall": max(0, required - balance)}

    @precondition(lambda self: self.backend.has_clock)
    @rule(seconds=st.integers(0, 120))
    def advance_time(self, seconds: int) -> None:
        self.backend.advance(seconds)

    @precondition(lambda self: bool(self.done))
    @rule(data=st.data())
    def replay(self, data: st.DataObject) -> None:
        key, cmd, first = data.draw(st.sampled_from(self.done))
        again = self.backend.apply(key, cmd)
        assert (again.status, again.body) == (first.status, first.body), "a replay must return the first answer"

    @precondition(lambda self: bool(self.done))
    @rule(data=st.data())
    def reuse_key_for_other_request(self, data: st.DataObject) -> None:
        key, _, _ = data.draw(st.sampled_from(self.done))
        out = self.backend.apply(key, d.Release(f"hold-other-{uuid.uuid4().hex}"))  # never the first request
        assert out.status == 422 and out.body["error"] == "IDEMPOTENCY_KEY_REUSED", out

    # ------------------------------------------------------------ invariants

    def _moved_tokens(self) -> list[int]:
        """Ids of transactions this run made that moved tokens (and so may be reversed)."""
        ids = []
        for _, _, out in self.done:
            txn = out.body.get("transaction")
            if isinstance(txn, dict) and txn.get("entries"):
                ids.append(txn["id"])
            elif isinstance(txn, int):  # a settlement answers with its transaction's id
                ids.append(txn)
        return ids

    @rule(data=st.data())
    def reverse(self, data: st.DataObject) -> None:
        """A reversal posts the negated entries as a new transaction, once, and never overdraws."""
        known = self._moved_tokens()
        txn = data.draw(st.sampled_from(known)) if known and data.draw(st.booleans()) else 10**9
        self.sync_expiry()
        out = self.send(d.Reverse(txn))
        if txn == 10**9:
            assert out.status == 404 and out.body["error"] == "TRANSACTION_NOT_FOUND", out
        elif txn in self.reversals:
            assert out.status == 422 and out.body["error"] == "NOT_REVERSIBLE", out
        elif txn in self.reversed:
            assert out.status == 409 and out.body["error"] == "ALREADY_REVERSED", out
        elif out.status == 409:
            assert out.body["error"] == "REVERSAL_WOULD_OVERDRAW", out
        else:
            assert out.status == 201 and out.body["reverses"] == txn, out
            assert out.body["transaction"]["type"] == "reversal"
            self.reversed.add(txn)
            self.reversals.add(out.body["transaction"]["id"])
            for e in out.body["transaction"]["entries"]:
                if e["wallet"] is not None:
                    self.ref.w[e["wallet"]][e["tokenType"]] += e["amount"]

    @invariant()
    def ledger_is_consistent(self) -> None:
        assert self.backend.problems() == []

    @invariant()
    def balances_match_the_reference(self) -> None:
        self.sync_expiry()
        views = self.backend.views()
        assert views == {wid: self.ref.view(wid) for wid in self.ref.w}


class StoreMachine(LedgerMachine):
    def make_backend(self) -> Any:
        return StoreBackend()


TestLedgerModel = LedgerMachine.TestCase
TestLedgerModel.settings = settings(max_examples=EXAMPLES, stateful_step_count=50, deadline=None,
                                    suppress_health_check=[HealthCheck.too_slow])

TestLedgerModelOnSQLiteStore = StoreMachine.TestCase
TestLedgerModelOnSQLiteStore.settings = settings(max_examples=max(5, EXAMPLES // 100), stateful_step_count=30,
                                                 deadline=None, suppress_health_check=[HealthCheck.too_slow])
