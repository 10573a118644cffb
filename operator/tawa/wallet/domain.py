"""Pure ledger rules: token types, spend order, balanced entries, holds, idempotency.

No SQL, no HTTP and no wire shapes here (the book answers typed `Result`s;
`tawa.wallet.views` renders them). The SQL store loads the rows a batch of commands needs
into a `Book`, lets the book apply the commands, and persists what the book
recorded; the in-memory `tawa.wallet.testing.MemoryLedger` (used by the big
property-based model) runs the very same `Book` over dictionaries.

Decisions (see also README in this package's docstring of `store`):
- Accounts: per wallet `wallet-{org}:intro|purchased|earned`; platform accounts
  `platform:intro-grants` and `platform:purchases` (issuance, they go negative)
  and `platform:hosting-revenue`. Every transaction's entries sum to zero.
- Holds are *reservations*, not transfers: a hold lowers what API gas may spend
  (`available.api = purchased + earned − held`) and is recorded in the ledger as
  a `hold` / `release` / `expiry` transaction with an amount but no entries, so the
  ledger shows reserves while balances only move on real transfers.
- Hosting may use `total − held` (intro first), which keeps `held ≤ purchased +
  earned` true at all times, so a hold can always be settled.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Any, ClassVar, NamedTuple

from tawa import names
from tawa.defaults import INTRO_GRANT as INTRO_GRANT  # the wallet's rules name them: domain.MAX_TOKENS
from tawa.defaults import MAX_TOKENS as MAX_TOKENS
from tawa.gas.tiers import TIERS, UnknownTier, get_tier
from tawa.refusal import Refusal

MAX_TTL_SECONDS = 7 * 24 * 3600
MAX_REPLICAS = 10_000
TOKEN_TYPES = ("intro", "purchased", "earned")
HOSTING_ORDER = ("intro", "purchased", "earned")
API_ORDER = ("purchased", "earned")  # intro never pays API gas

PLATFORM_INTRO = "platform:intro-grants"
PLATFORM_PURCHASES = "platform:purchases"
PLATFORM_HOSTING = "platform:hosting-revenue"
PLATFORM_ACCOUNTS = (PLATFORM_INTRO, PLATFORM_PURCHASES, PLATFORM_HOSTING)

MICROS = 1_000_000


class TxType(StrEnum):
    INTRO_GRANT = "intro_grant"
    PURCHASE = "purchase"
    HOSTING_CHARGE = "hosting_charge"
    API_GAS = "api_gas"
    HOLD = "hold"
    RELEASE = "release"
    EXPIRY = "expiry"
    REVERSAL = "reversal"


# Only transactions that moved tokens can be compensated; holds, releases and expiries moved none.
REVERSIBLE = frozenset({TxType.INTRO_GRANT, TxType.PURCHASE, TxType.HOSTING_CHARGE, TxType.API_GAS})


class HoldStatus(StrEnum):
    OPEN = "open"
    RELEASED = "released"
    EXPIRED = "expired"


def account_id(wallet: str, token_type: str) -> str:
    return f"{wallet}:{token_type}"


# --------------------------------------------------------------------------- refusals


def wallet_not_found(wallet: str, field: str = "wallet") -> Refusal:
    return Refusal(404, "WALLET_NOT_FOUND", f"{field}: no wallet {wallet!r}; create it with POST /v1/wallets "
                   '{"org": ...} (wallet ids are wallet-{org})', field, wallet=wallet)


def wallet_short_of_tokens(wallet: str, required: int, available: int, what: str) -> Refusal:
    return Refusal(402, "INSUFFICIENT_GAS", f"tokens: {wallet} has {available} tokens available for {what} but "
                   f"{required} are required; buy tokens (tawa wallet buy) and retry", "tokens",
                   wallet=wallet, required=required, available=available)


def check_amount(value: object, name: str = "tokens", maximum: int = MAX_TOKENS, minimum: int = 1) -> int:
    """Integer tokens only: bools, floats and strings are refused, not coerced."""
    if type(value) is not int or not minimum <= value <= maximum:
        raise Refusal(422, "INVALID_AMOUNT", f"{name} must be a whole number from {minimum} to {maximum}; "
                      f"got {value!r}", name)
    return value


def check_org(org: object, field: str = "org") -> str:
    try:
        return names.org_slug(org, field)
    except names.InvalidName as exc:
        raise Refusal(422, "INVALID_ORG", str(exc), field) from None


def check_text(value: object, name: str, max_len: int = 512, required: bool = True) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value or len(value) > max_len:
        raise Refusal(422, "INVALID_FIELD", f"{name} must be a non-empty string of at most {max_len} characters",
                      name)
    return value


# --------------------------------------------------------------------------- state


@dataclass
class WalletState:
    id: str
    org: str
    intro: int = 0
    purchased: int = 0
    earned: int = 0
    held: int = 0
    created_at: int = 0

    @property
    def total(self) -> int:
        return self.intro + self.purchased + self.earned

    @property
    def available_hosting(self) -> int:
        return self.total - self.held

    @property
    def available_api(self) -> int:
        return self.purchased + self.earned - self.held

    def balance(self, token_type: str) -> int:
        return int(getattr(self, token_type))

    def add(self, token_type: str, amount: int) -> None:
        setattr(self, token_type, self.balance(token_type) + amount)


@dataclass
class HoldState:
    id: str
    wallet: str
    tokens: int
    remaining: int
    settled: int = 0
    released: int = 0
    status: str = HoldStatus.OPEN
    expires_at: int = 0
    created_at: int = 0


class Entry(NamedTuple):
    """One leg of a transaction (a tuple: settlements create millions of them)."""

    account: str
    wallet: str | None
    token_type: str | None
    amount: int


@dataclass(slots=True)
class Txn:
    id: int
    type: str
    wallet: str
    amount: int
    created_at: int
    entries: tuple[Entry, ...] = ()
    counterparty: str | None = None
    hold: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    actor: str | None = None  # None: the wallet itself (expiries), or recorded before actors were (0004)
    reverses: int | None = None  # a reversal: the transaction it compensates (at most one each, 0005)


@dataclass(slots=True)
class GasEvent:
    txn_id: int
    kind: str  # "api" | "hosting"
    org: str
    wallet: str
    tokens: int
    created_at: int
    provider: str | None = None
    service: str | None = None
    route: str | None = None
    method: str | None = None
    request_id: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


def split(balances: Mapping[str, int], order: Iterable[str], amount: int) -> dict[str, int]:
    """How much of `amount` each token type pays, in spend order; caller ensures it is covered."""
    paid: dict[str, int] = {}
    left = amount
    for token_type in order:
        take = min(left, balances[token_type])
        if take > 0:
            paid[token_type] = take
            left -= take
    if left:
        raise AssertionError(f"split: {amount} not covered by {dict(balances)}")
    return paid


# --------------------------------------------------------------------------- commands


@dataclass(frozen=True)
class Command:
    """A mutation. `fingerprint` identifies the request for idempotency; `actor` (who asked:
    `admin`, `operator`, `janus`, `key:{id}`) is recorded on its transactions but is not part of
    the fingerprint: a retry is the same request whoever's credential carries it."""

    kind: ClassVar[str] = ""
    actor: str | None = field(default=None, kw_only=True, compare=False)

    def wallet_ids(self) -> tuple[str, ...]:
        return ()

    def hold_ids(self) -> tuple[str, ...]:
        return ()

    def txn_ids(self) -> tuple[int, ...]:
        """Transactions the command needs loaded (with whether each was reversed already)."""
        return ()

    def fingerprint(self) -> str:
        # repr of str/int/None values is stable across processes and versions, and cheap.
        names = _FIELD_NAMES.get(type(self))
        if names is None:
            names = _FIELD_NAMES[type(self)] = tuple(f.name for f in fields(self) if f.name != "actor")
        raw = repr((self.kind, *[getattr(self, name) for name in names]))
        return hashlib.blake2b(raw.encode(), digest_size=16).hexdigest()


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


@dataclass(frozen=True)
class CreateWallet(Command):
    org: str
    kind = "create_wallet"

    def wallet_ids(self) -> tuple[str, ...]:
        return (names.wallet_id(self.org),)


@dataclass(frozen=True)
class Purchase(Command):
    wallet: str
    tokens: int
    kind = "purchase"

    def wallet_ids(self) -> tuple[str, ...]:
        return (self.wallet,)


@dataclass(frozen=True)
class CheckReserve(Command):
    wallet: str
    tier: str
    replicas: int
    kind = "check_reserve"

    def wallet_ids(self) -> tuple[str, ...]:
        return (self.wallet,)


@dataclass(frozen=True)
class HostingCharge(Command):
    wallet: str
    component: str
    hour: str
    tokens: int
    tier: str | None = None
    pods: int | None = None
    service: str | None = None
    kind = "hosting_charge"

    def wallet_ids(self) -> tuple[str, ...]:
        return (self.wallet,)


@dataclass(frozen=True)
class PlaceHold(Command):
    wallet: str
    tokens: int
    ttl_seconds: int
    kind = "hold"

    def wallet_ids(self) -> tuple[str, ...]:
        return (self.wallet,)


@dataclass(frozen=True)
class Settle(Command):
    hold: str
    provider: str
    tokens: int
    service: str
    route: str
    method: str
    request_id: str
    kind = "settle"

    def wallet_ids(self) -> tuple[str, ...]:
        return (self.provider,)

    def hold_ids(self) -> tuple[str, ...]:
        return (self.hold,)


@dataclass(frozen=True)
class Release(Command):
    hold: str
    kind = "release"

    def hold_ids(self) -> tuple[str, ...]:
        return (self.hold,)


@dataclass(frozen=True)
class Reverse(Command):
    txn: int
    kind = "reverse"

    def txn_ids(self) -> tuple[int, ...]:
        return (self.txn,)


@dataclass(frozen=True)
class Outcome:
    """What a command answered: an HTTP-like status and a JSON-able body."""

    status: int
    body: dict[str, Any]
    replayed: bool = False  # the stored answer of an earlier request with the same key

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


# --------------------------------------------------------------------------- the book


@dataclass(frozen=True)
class Charged:
    """A purchase or hosting charge: its transaction and the wallet after it."""

    txn: Txn
    wallet: WalletState


@dataclass(frozen=True)
class ReserveChecked:
    wallet: str
    tier: str
    replicas: int
    ok: bool
    balance: int
    required: int
    shortfall: int


@dataclass(frozen=True)
class Settled:
    txn: int
    hold: str
    wallet: str
    provider: str
    tokens: int
    remaining: int
    paid_from: dict[str, int]


@dataclass(frozen=True)
class Reversed:
    txn: Txn
    reverses: int
    wallet: WalletState


# What a command did, or why it was refused. The states are the book's own, which later
# commands change: render an answer (`tawa.wallet.views.outcome`) before applying the next.
Result = WalletState | HoldState | Charged | ReserveChecked | Settled | Reversed | Refusal


class Answer(NamedTuple):
    status: int
    result: Result


@dataclass
class Book:
    """The rows one unit of work touches, and everything it changed.

    The store fills `wallets`/`holds` (and marks what exists) before applying;
    afterwards it writes `txns`, `events`, `account_deltas`, `held_deltas`,
    `new_wallets`, `touched_holds` and `new_holds`.
    """

    now: int
    next_txn_id: Callable[[], int]
    new_hold_id: Callable[[], str] = field(default=lambda: f"hold-{uuid.uuid4().hex}")
    wallets: dict[str, WalletState] = field(default_factory=dict)
    holds: dict[str, HoldState] = field(default_factory=dict)
    txns: list[Txn] = field(default_factory=list)
    events: list[GasEvent] = field(default_factory=list)
    account_deltas: dict[str, int] = field(default_factory=dict)
    held_deltas: dict[str, int] = field(default_factory=dict)
    new_wallets: list[str] = field(default_factory=list)
    new_holds: list[str] = field(default_factory=list)
    touched_holds: set[str] = field(default_factory=set)
    originals: dict[int, Txn] = field(default_factory=dict)  # transactions a Reverse names (store-loaded)
    reversed_by: dict[int, int] = field(default_factory=dict)  # original id → its reversal's id
    actor: str | None = None  # of the command being applied; None while expiring (the wallet acts)

    # ----- helpers

    def wallet(self, wid: str, field_name: str = "wallet") -> WalletState:
        w = self.wallets.get(wid)
        if w is None:
            raise wallet_not_found(wid, field_name)
        return w

    def hold(self, hid: str) -> HoldState:
        h = self.holds.get(hid)
        if h is None:
            raise Refusal(404, "HOLD_NOT_FOUND", f"hold: no hold {hid!r}; take one with POST /v1/holds", "hold",
                          hold=hid)
        return h

    def _post(self, txn: Txn) -> Txn:
        """Record a transaction, moving balances by its entries (which must sum to zero)."""
        total = 0
        for e in txn.entries:
            total += e.amount
        if total:
            raise AssertionError(f"unbalanced transaction {txn}")
        deltas = self.account_deltas
        for account, wallet, token_type, amount in txn.entries:
            deltas[account] = deltas.get(account, 0) + amount
            if wallet is not None and token_type is not None:
                self.wallets[wallet].add(token_type, amount)
        self.txns.append(txn)
        return txn

    def _txn(self, type_: TxType, wallet: str, amount: int, entries: Iterable[Entry] = (), **kw: Any) -> Txn:
        actor = None if type_ == TxType.EXPIRY else self.actor  # a hold's TTL ran out: nobody acted
        return self._post(Txn(self.next_txn_id(), type_, wallet, amount, self.now, tuple(entries), actor=actor,
                              **kw))

    def _debits(self, w: WalletState, paid: Mapping[str, int]) -> list[Entry]:
        return [Entry(f"{w.id}:{t}", w.id, t, -n) for t, n in paid.items()]

    def _change_held(self, h: HoldState, delta: int) -> None:
        self.wallets[h.wallet].held += delta
        self.held_deltas[h.wallet] = self.held_deltas.get(h.wallet, 0) + delta
        self.touched_holds.add(h.id)

    # ----- expiry

    def expire_due(self) -> None:
        """Expire every loaded open hold whose TTL has passed, freeing what it still held."""
        for h in self.holds.values():
            if h.status == HoldStatus.OPEN and h.expires_at <= self.now and h.wallet in self.wallets:
                self._close(h, HoldStatus.EXPIRED, TxType.EXPIRY)

    def _close(self, h: HoldState, status: HoldStatus, type_: TxType) -> None:
        freed = h.remaining
        h.status, h.released, h.remaining = status, h.released + freed, 0
        self._change_held(h, -freed)
        self._txn(type_, h.wallet, freed, hold=h.id)

    # ----- commands

    def apply(self, cmd: Command) -> Answer:
        self.actor = cmd.actor
        try:
            handler = getattr(self, f"_do_{cmd.kind}")
            return handler(cmd)  # type: ignore[no-any-return]
        except Refusal as refusal:
            return Answer(refusal.status, refusal)

    def _do_create_wallet(self, cmd: CreateWallet) -> Answer:
        org = check_org(cmd.org)
        wid = names.wallet_id(org)
        if wid in self.wallets:
            return Answer(200, self.wallets[wid])
        w = self.wallets[wid] = WalletState(wid, org, created_at=self.now)
        self.new_wallets.append(wid)
        self._txn(TxType.INTRO_GRANT, wid, INTRO_GRANT, [Entry(PLATFORM_INTRO, None, None, -INTRO_GRANT),
                                                         Entry(account_id(wid, "intro"), wid, "intro", INTRO_GRANT)])
        return Answer(201, w)

    @staticmethod
    def _room_for(w: WalletState, tokens: int) -> None:
        """No balance may pass the largest integer every JSON reader keeps exact."""
        if w.total + tokens > MAX_TOKENS:
            raise Refusal(422, "BALANCE_LIMIT", f"tokens: {tokens:,} would take {w.id} past {MAX_TOKENS:,} tokens, "
                          "the most a wallet may hold; credit less", "tokens", limit=MAX_TOKENS, total=w.total)

    def _do_purchase(self, cmd: Purchase) -> Answer:
        tokens = check_amount(cmd.tokens)
        w = self.wallet(cmd.wallet)
        self._room_for(w, tokens)
        txn = self._txn(TxType.PURCHASE, w.id, tokens, [
            Entry(PLATFORM_PURCHASES, None, None, -tokens), Entry(account_id(w.id, "purchased"), w.id, "purchased",
                                                                  tokens)])
        return Answer(201, Charged(txn, w))

    def _do_check_reserve(self, cmd: CheckReserve) -> Answer:
        replicas = check_amount(cmd.replicas, "replicas", MAX_REPLICAS)
        try:
            required = get_tier(cmd.tier).reserve(replicas)
        except UnknownTier:
            raise Refusal(422, "UNKNOWN_TIER", f"tier must be one of {', '.join(TIERS)}; got {cmd.tier!r}",
                          "tier") from None
        w = self.wallet(cmd.wallet)
        balance = w.available_hosting  # all three token types, intro included, minus holds
        return Answer(200, ReserveChecked(w.id, cmd.tier, replicas, balance >= required, balance, required,
                                          max(0, required - balance)))

    def _do_hosting_charge(self, cmd: HostingCharge) -> Answer:
        tokens = check_amount(cmd.tokens)
        check_text(cmd.component, "component")
        check_text(cmd.hour, "hour", 64)
        w = self.wallet(cmd.wallet)
        if w.available_hosting < tokens:
            raise wallet_short_of_tokens(w.id, tokens, w.available_hosting, "hosting")
        # Intro first; what intro cannot cover comes from purchased, then earned, but
        # never from what holds reserve (available_hosting already excludes it).
        paid = split({"intro": w.intro, "purchased": w.purchased, "earned": w.earned}, HOSTING_ORDER, tokens)
        details = {k: v for k, v in (("component", cmd.component), ("hour", cmd.hour), ("tier", cmd.tier),
                                     ("pods", cmd.pods), ("service", cmd.service)) if v is not None}
        txn = self._txn(TxType.HOSTING_CHARGE, w.id, tokens,
                        [*self._debits(w, paid), Entry(PLATFORM_HOSTING, None, None, tokens)], details=details)
        self.events.append(GasEvent(txn.id, "hosting", w.org, w.id, tokens, self.now,
                                    service=cmd.service or cmd.component, details=details))
        return Answer(201, Charged(txn, w))

    def _do_hold(self, cmd: PlaceHold) -> Answer:
        tokens = check_amount(cmd.tokens)
        ttl = check_amount(cmd.ttl_seconds, "ttlSeconds", MAX_TTL_SECONDS)
        w = self.wallet(cmd.wallet)
        if w.available_api < tokens:
            raise wallet_short_of_tokens(w.id, tokens, w.available_api,
                                         "API gas (purchased + earned; intro never pays it)")
        h = HoldState(self.new_hold_id(), w.id, tokens, tokens, expires_at=self.now + ttl * MICROS,
                      created_at=self.now)
        self.holds[h.id] = h
        self.new_holds.append(h.id)
        self._change_held(h, tokens)
        self._txn(TxType.HOLD, w.id, tokens, hold=h.id)
        return Answer(201, h)

    def _open_hold(self, hid: str) -> HoldState:
        h = self.hold(hid)
        if h.status == HoldStatus.OPEN and h.expires_at <= self.now:
            self._close(h, HoldStatus.EXPIRED, TxType.EXPIRY)
        if h.status != HoldStatus.OPEN:
            code = "HOLD_EXPIRED" if h.status == HoldStatus.EXPIRED else "HOLD_RELEASED"
            raise Refusal(409, code, f"hold: {hid} is {h.status} and can no longer be settled; take a new hold",
                          "hold", hold=hid)
        return h

    def _do_settle(self, cmd: Settle) -> Answer:
        tokens = check_amount(cmd.tokens)
        for name in ("service", "route", "method"):
            check_text(getattr(cmd, name), name)
        check_text(cmd.request_id, "requestId")
        h = self._open_hold(cmd.hold)
        provider = self.wallet(cmd.provider, "provider")
        if tokens > h.remaining:
            raise Refusal(422, "HOLD_EXCEEDED", f"tokens: {tokens} is more than the {h.remaining} left on hold "
                          f"{h.id}; settle at most what is held", "tokens", hold=h.id, remaining=h.remaining)
        caller = self.wallets[h.wallet]
        self._room_for(provider, tokens)
        h.remaining -= tokens
        h.settled += tokens
        self._change_held(h, -tokens)
        # The hold guaranteed purchased + earned ≥ held ≥ tokens, so this always covers.
        paid = split({"purchased": caller.purchased, "earned": caller.earned}, API_ORDER, tokens)
        details = {"service": cmd.service, "route": cmd.route, "method": cmd.method, "requestId": cmd.request_id}
        txn = self._txn(TxType.API_GAS, caller.id, tokens, [
            *self._debits(caller, paid), Entry(account_id(provider.id, "earned"), provider.id, "earned", tokens)],
            counterparty=provider.id, hold=h.id, details=details)
        self.events.append(GasEvent(txn.id, "api", caller.org, caller.id, tokens, self.now, provider=provider.id,
                                    service=cmd.service, route=cmd.route, method=cmd.method,
                                    request_id=cmd.request_id))
        return Answer(200, Settled(txn.id, h.id, caller.id, provider.id, tokens, h.remaining, paid))

    def _do_reverse(self, cmd: Reverse) -> Answer:
        """The compensating transaction: every entry of the original, negated, as a NEW transaction
        linked to it (`reverses`); the original is never edited. Once per transaction."""
        original = self.originals.get(cmd.txn)
        if original is None:
            raise Refusal(404, "TRANSACTION_NOT_FOUND", f"transactionId: no transaction {cmd.txn}", "transactionId")
        if original.type not in REVERSIBLE:
            why = "is itself a reversal" if original.type == TxType.REVERSAL else "moved no tokens"
            raise Refusal(422, "NOT_REVERSIBLE", f"transactionId: transaction {cmd.txn} ({original.type}) {why}; "
                          "only purchases, hosting charges, API gas and intro grants can be reversed",
                          "transactionId")
        if cmd.txn in self.reversed_by:
            raise Refusal(409, "ALREADY_REVERSED", f"transactionId: transaction {cmd.txn} was reversed by "
                          f"transaction {self.reversed_by[cmd.txn]}", "transactionId",
                          reversal=self.reversed_by[cmd.txn])
        entries = [Entry(e.account, e.wallet, e.token_type, -e.amount) for e in original.entries]
        self._reversible(entries)
        txn = self._txn(TxType.REVERSAL, original.wallet, original.amount, entries,
                        counterparty=original.counterparty, details={"reverses": original.id,
                                                                     "reversedType": str(original.type)},
                        reverses=original.id)
        self.reversed_by[cmd.txn] = txn.id
        return Answer(201, Reversed(txn, original.id, self.wallet(original.wallet)))

    def _reversible(self, entries: Iterable[Entry]) -> None:
        """No wallet may end below zero, nor with holds it could no longer cover (tokens already spent)."""
        after: dict[str, dict[str, int]] = {}
        for e in entries:
            if e.wallet is not None and e.token_type is not None:
                w = self.wallet(e.wallet)
                balances = after.setdefault(w.id, {t: w.balance(t) for t in TOKEN_TYPES})
                balances[e.token_type] += e.amount
        for wid, balances in after.items():
            short = [t for t, n in balances.items() if n < 0]
            if short or self.wallets[wid].held > balances["purchased"] + balances["earned"]:
                raise Refusal(409, "REVERSAL_WOULD_OVERDRAW", f"transactionId: reversing it would leave {wid} "
                              f"below zero ({', '.join(short) or 'held'}): its tokens were spent since; credit or "
                              "charge the difference instead", "transactionId", wallet=wid)

    def _do_release(self, cmd: Release) -> Answer:
        h = self.hold(cmd.hold)
        if h.status == HoldStatus.OPEN and h.expires_at <= self.now:
            self._close(h, HoldStatus.EXPIRED, TxType.EXPIRY)
        elif h.status == HoldStatus.OPEN:
            self._close(h, HoldStatus.RELEASED, TxType.RELEASE)
        return Answer(200, h)  # releasing a closed hold changes nothing


# --------------------------------------------------------------------------- idempotency


@dataclass(frozen=True)
class Stored:
    """A stored answer for an idempotency key."""

    fingerprint: str
    status: int
    body: dict[str, Any]


def replay_or_conflict(key: str, stored: Stored | None, fingerprint: str) -> Outcome | None:
    """The answer for an already-used key, or None when the command must run."""
    if stored is None:
        return None
    if stored.fingerprint != fingerprint:
        return Outcome(422, {"error": "IDEMPOTENCY_KEY_REUSED", "field": "Idempotency-Key", "key": key,
                             "message": "Idempotency-Key: this key was used for a different request; "
                                        "use a new key for a new request"})
    return Outcome(stored.status, stored.body, replayed=True)


def in_flight(key: str) -> Outcome:
    return Outcome(409, {"error": "IDEMPOTENCY_IN_FLIGHT", "field": "Idempotency-Key", "key": key,
                         "message": "Idempotency-Key: the first request with this key is still running; "
                                    "retry shortly to get its answer"})


# --------------------------------------------------------------------------- integrity


@dataclass(frozen=True)
class LedgerFacts:
    """What an integrity check looks at, gathered by the store (SQL aggregates) or the memory ledger."""

    unbalanced_txns: dict[int, int]  # txn id → sum of its entries, only where non-zero
    account_balances: dict[str, int]  # stored balance per account
    entry_totals: dict[str, int]  # sum of entries per account
    wallets: list[WalletState]
    open_held: dict[str, int]  # wallet → sum of remaining over its open holds
    bad_holds: list[str]  # holds whose tokens ≠ remaining + settled + released, or negative parts
    counts: dict[str, int] = field(default_factory=dict)


def integrity_problems(facts: LedgerFacts) -> list[str]:
    problems = [f"transaction {t} entries sum to {s}, not 0" for t, s in sorted(facts.unbalanced_txns.items())]
    for acc in sorted(set(facts.account_balances) | set(facts.entry_totals)):
        stored, summed = facts.account_balances.get(acc, 0), facts.entry_totals.get(acc, 0)
        if stored != summed:
            problems.append(f"account {acc} balance {stored} != sum of its entries {summed}")
    for w in facts.wallets:
        for t in TOKEN_TYPES:
            if w.balance(t) < 0:
                problems.append(f"{w.id} {t} balance is negative ({w.balance(t)})")
            if w.balance(t) != facts.account_balances.get(account_id(w.id, t), 0):
                problems.append(f"{w.id} {t} balance {w.balance(t)} != its account")
        if w.held != facts.open_held.get(w.id, 0):
            problems.append(f"{w.id} held {w.held} != open holds {facts.open_held.get(w.id, 0)}")
        if not 0 <= w.held <= w.purchased + w.earned:
            problems.append(f"{w.id} held {w.held} outside 0..purchased+earned ({w.purchased + w.earned})")
    if sum(facts.account_balances.values()):
        problems.append(f"accounts sum to {sum(facts.account_balances.values())}, not 0")
    problems += [f"hold {h} does not add up" for h in facts.bad_holds]
    return problems


def hold_adds_up(h: HoldState) -> bool:
    return min(h.remaining, h.settled, h.released) >= 0 and h.remaining + h.settled + h.released == h.tokens
