"""Test models of the wallet (not used by the service): `MemoryLedger`, the whole ledger in
dictionaries, running the same `domain.Book` rules as the SQL store; the property-based model
compares the two."""

from __future__ import annotations

from copy import copy
from dataclasses import dataclass, field

from tawa.wallet.domain import (
    Book,
    Command,
    GasEvent,
    HoldState,
    HoldStatus,
    LedgerFacts,
    Outcome,
    Stored,
    Txn,
    WalletState,
    hold_adds_up,
    replay_or_conflict,
)
from tawa.wallet.views import outcome


@dataclass
class MemoryLedger:
    """The whole ledger in dictionaries, running the same `Book` rules as the SQL store."""

    wallets: dict[str, WalletState] = field(default_factory=dict)
    holds: dict[str, HoldState] = field(default_factory=dict)
    balances: dict[str, int] = field(default_factory=dict)
    txns: list[Txn] = field(default_factory=list)
    events: list[GasEvent] = field(default_factory=list)
    keys: dict[str, Stored] = field(default_factory=dict)

    def apply(self, commands: list[tuple[str, Command]], now: int) -> list[Outcome]:
        # Work on copies (all fields are scalars) so that a failing batch changes nothing.
        book = Book(now, next_txn_id=lambda: len(self.txns) + len(book.txns) + 1,
                    wallets={k: copy(v) for k, v in self.wallets.items()},
                    holds={k: copy(v) for k, v in self.holds.items()},
                    originals={t.id: t for t in self.txns},
                    reversed_by={t.reverses: t.id for t in self.txns if t.reverses is not None})
        book.expire_due()
        out: list[Outcome] = []
        for key, cmd in commands:
            fp = cmd.fingerprint()
            answer = replay_or_conflict(key, self.keys.get(key), fp)
            if answer is None:
                answer = outcome(book.apply(cmd))
                if answer.ok:
                    self.keys[key] = Stored(fp, answer.status, answer.body)
            out.append(answer)
        self.wallets, self.holds = book.wallets, book.holds
        self.txns += book.txns
        self.events += book.events
        for acc, delta in book.account_deltas.items():
            self.balances[acc] = self.balances.get(acc, 0) + delta
        return out

    def facts(self) -> LedgerFacts:
        sums: dict[int, int] = {}
        totals: dict[str, int] = {}
        for t in self.txns:
            for e in t.entries:
                sums[t.id] = sums.get(t.id, 0) + e.amount
                totals[e.account] = totals.get(e.account, 0) + e.amount
        open_held: dict[str, int] = {}
        for h in self.holds.values():
            if h.status == HoldStatus.OPEN:
                open_held[h.wallet] = open_held.get(h.wallet, 0) + h.remaining
        return LedgerFacts({t: s for t, s in sums.items() if s}, dict(self.balances), totals,
                           list(self.wallets.values()), open_held,
                           [h.id for h in self.holds.values() if not hold_adds_up(h)])
