"""The SQL store: loads what a batch of commands touches, applies the domain rules,
writes the result in ONE database transaction (group commit), and only then answers.

SQLite (default): WAL, `synchronous=FULL`, `BEGIN IMMEDIATE` for writes, a busy
timeout, and an in-process write lock so that threads queue instead of spinning
on "database is locked". PostgreSQL (by URL): READ COMMITTED with explicit row
locks taken in a fixed order — wallets by id (`FOR UPDATE`), then accounts by id
as they are updated — and the whole unit of work is retried on serialization
failures, deadlocks and unique-key races (e.g. two replicas using the same
idempotency key: the retry replays the stored answer).

Idempotency: a key's answer is stored in the same transaction as its effect, so a
crash leaves either both or neither. Only successful (2xx) answers are stored: a
refused request changed nothing, so a retry with the same key is evaluated again
(the operator retries an unpaid hosting hour with the same key after a purchase).
Keys whose first request is still running in this process get 409.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import random
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import orjson
from sqlalchemy import Connection, Engine, Table, bindparam, case, create_engine, event, func, or_, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from tawa.names import Grant
from tawa.refusal import Refusal
from tawa.wallet import domain as d
from tawa.wallet import views
from tawa.wallet.policy import Identity, Role
from tawa.wallet.schema import (
    accounts,
    bill_grants,
    gas_events,
    holds,
    idempotency_keys,
    ledger_entries,
    ledger_txns,
    org_keys,
    wallets,
)

log = logging.getLogger("tawa.wallet.store")
T = TypeVar("T")
MIGRATIONS = Path(__file__).parent / "migrations"
RETRY_SQLSTATES = {"40001", "40P01", "23505"}  # serialization failure, deadlock, unique violation
MAX_ATTEMPTS = 8
CHUNK = 500  # keeps IN (...) lists well under every driver's parameter limit


def now_micros() -> int:
    return time.time_ns() // 1000


def normalize_url(url: str) -> str:
    """`postgresql://` (and `postgres://`) use psycopg 3; everything else is passed through."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def _chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def _retryable(exc: DBAPIError) -> bool:
    code = getattr(exc.orig, "sqlstate", None)
    return code in RETRY_SQLSTATES or "database is locked" in str(exc.orig)


@dataclass
class _Pending:
    """One caller's items waiting for (or answered by) a group transaction."""

    items: Sequence[tuple[str, d.Command]]
    busy: set[str]
    outcomes: list[d.Outcome] = field(default_factory=list)
    error: Exception | None = None
    taken: bool = False  # in a group (under _queue_lock)
    finished: threading.Event = field(default_factory=threading.Event)


class Store:
    """All database access. Thread-safe; one instance per process."""

    def __init__(self, url: str, *, clock: Callable[[], int] = now_micros, migrate_on_start: bool = True) -> None:
        self.url = normalize_url(url)
        self.clock = clock
        self.is_sqlite = self.url.startswith("sqlite")
        self.dialect = "sqlite" if self.is_sqlite else "postgresql"
        self._write_lock = threading.Lock() if self.is_sqlite else None
        self._flight_lock = threading.Lock()
        self._queue_lock = threading.Lock()
        self._slots = threading.Semaphore(1 if self.is_sqlite else self.PG_CONCURRENT_GROUPS)
        self._queue: list[_Pending] = []
        self._in_flight: set[str] = set()
        self.retries = 0
        self._insert_cols: dict[str, list[str]] = {}
        self.writer = self._engine(immediate=True)
        self.reader = self._engine(immediate=False) if self.is_sqlite else self.writer
        if migrate_on_start:
            self.migrate()

    # ------------------------------------------------------------------ engines

    def _engine(self, immediate: bool) -> Engine:
        if not self.is_sqlite:
            return create_engine(self.url, pool_size=10, max_overflow=20, pool_pre_ping=True)
        path = self.url.split("///", 1)[-1] if "///" in self.url else ""
        if not path or path.startswith(":memory:"):
            raise ValueError(f"{self.url}: the wallet needs a SQLite file (sqlite:///PATH), not an in-memory "
                             "database that vanishes with its connection")
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(self.url, connect_args={"check_same_thread": False, "timeout": 30})
        begin = "BEGIN IMMEDIATE" if immediate else "BEGIN"

        @event.listens_for(engine, "connect")
        def _connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
            cur = dbapi_conn.cursor()
            # A 64 MiB page cache (default 2 MiB) keeps the index pages that every
            # settlement's ~6 inserts touch in memory: about 7% less CPU per settlement.
            for pragma in ("journal_mode=WAL", "synchronous=FULL", "busy_timeout=30000", "cache_size=-65536"):
                cur.execute(f"PRAGMA {pragma}")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin(conn: Connection) -> None:
            conn.exec_driver_sql(begin)

        return engine

    def migrate(self) -> None:
        from alembic import command
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        with self._writing(), self.writer.begin() as conn:
            if not self.is_sqlite:  # two replicas starting together must not both migrate
                conn.execute(text("SELECT pg_advisory_xact_lock(74611)"))
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")

    def close(self) -> None:
        self.writer.dispose()
        if self.reader is not self.writer:
            self.reader.dispose()

    # ------------------------------------------------------------------ write path

    @contextmanager
    def _writing(self) -> Iterator[None]:
        if self._write_lock is None:
            yield
        else:
            with self._write_lock:
                yield

    def _transact(self, work: Callable[[Connection], T]) -> T:
        """Run `work` in one write transaction, retrying transient conflicts."""
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                with self._writing(), self.writer.begin() as conn:
                    return work(conn)
            except (OperationalError, IntegrityError, DBAPIError) as exc:
                if attempt == MAX_ATTEMPTS or not _retryable(exc):
                    raise
                self.retries += 1
                time.sleep(random.uniform(0, 0.005 * attempt))
        raise AssertionError("unreachable")

    def _claim(self, keys: Iterable[str]) -> tuple[set[str], set[str]]:
        """Mark keys as running in this process; returns (claimed, already running)."""
        with self._flight_lock:
            unique = set(keys)
            busy = unique & self._in_flight
            claimed = unique - busy
            self._in_flight |= claimed
        return claimed, busy

    def _unclaim(self, keys: set[str]) -> None:
        with self._flight_lock:
            self._in_flight -= keys

    def apply(self, items: Sequence[tuple[str, d.Command]]) -> list[d.Outcome]:
        """Apply commands, each under its own idempotency key, durably, and answer them.

        Group commit: requests that arrive while a transaction is running queue up, and
        the next thread to get a commit slot runs the queued requests (up to GROUP_MAX)
        in one transaction (one fsync), then hands each request its own answers. Nobody
        is answered before the transaction holding their items has committed.
        """
        claimed, busy = self._claim(k for k, _ in items)
        mine = _Pending(items, busy)
        try:
            with self._queue_lock:
                self._queue.append(mine)
            while not mine.taken:  # earlier requests go first, in groups of at most GROUP_MAX
                with self._slots:
                    with self._queue_lock:
                        group, self._queue = self._queue[:self.GROUP_MAX], self._queue[self.GROUP_MAX:]
                        for p in group:
                            p.taken = True
                    if group:
                        self._run_group(group)
            mine.finished.wait()  # run by us, or by another thread that took it into its group
        finally:
            self._unclaim(claimed)
        if mine.error is not None:
            raise mine.error
        return mine.outcomes

    GROUP_MAX = 16  # requests per group transaction (each up to MAX_BATCH items)
    # Group transactions running at once: SQLite has one writer; PostgreSQL overlaps our
    # Python work with the server's (row locks keep conflicting groups in order).
    PG_CONCURRENT_GROUPS = 3

    def _run_group(self, group: list[_Pending]) -> None:
        items = [item for p in group for item in p.items]
        # Busy is per request: a copy that found its key running answers 409, while the
        # request that claimed that key — perhaps in this very group — applies it.
        found_busy = [key in p.busy for p in group for key, _ in p.items]
        try:
            outcomes = self._transact(lambda conn: self._apply_in(conn, items, found_busy))
        except Exception as exc:  # every request in the group failed with the transaction
            for p in group:
                p.error = exc
                p.finished.set()
            return
        start = 0
        for p in group:
            p.outcomes = outcomes[start:start + len(p.items)]
            start += len(p.items)
            p.finished.set()

    def _apply_in(self, conn: Connection, items: Sequence[tuple[str, d.Command]],
                  found_busy: Sequence[bool]) -> list[d.Outcome]:
        now = self.clock()
        live = [(k, c) for (k, c), busy in zip(items, found_busy, strict=True) if not busy]
        stored = self._stored(conn, [k for k, _ in live])
        todo = [c for k, c in live if k not in stored]
        book = self._load(conn, now, todo)
        book.expire_due()
        outcomes: list[d.Outcome] = []
        fresh: dict[str, d.Stored] = {}
        for (key, cmd), busy in zip(items, found_busy, strict=True):
            if busy:
                outcomes.append(d.in_flight(key))
                continue
            fp = cmd.fingerprint()
            answer = d.replay_or_conflict(key, stored.get(key) or fresh.get(key), fp)
            if answer is None:
                answer = views.outcome(book.apply(cmd))
                if answer.ok:
                    fresh[key] = d.Stored(fp, answer.status, answer.body)
            outcomes.append(answer)
        self._persist(conn, book, fresh, now)
        return outcomes

    def _stored(self, conn: Connection, keys: Sequence[str]) -> dict[str, d.Stored]:
        found: dict[str, d.Stored] = {}
        for chunk in _chunks(sorted(set(keys))):
            q = select(idempotency_keys).where(idempotency_keys.c.key.in_(chunk))
            for r in conn.execute(q):
                found[r.key] = d.Stored(r.fingerprint, r.status, orjson.loads(r.body))
        return found

    def _txn_ids(self, conn: Connection, hint: int) -> Callable[[], int]:
        """Transaction ids: MAX+1 under SQLite's exclusive write lock; blocks of a sequence on PostgreSQL."""
        if self.is_sqlite:
            counter = [conn.execute(select(func.coalesce(func.max(ledger_txns.c.id), 0))).scalar_one()]

            def next_sqlite() -> int:
                counter[0] += 1
                return int(counter[0])

            return next_sqlite
        pool: list[int] = []

        def next_pg() -> int:
            if not pool:
                q = text("SELECT nextval('ledger_txn_id_seq') FROM generate_series(1, :n)")
                pool.extend(sorted((r[0] for r in conn.execute(q, {"n": max(hint, 16)})), reverse=True))
            return int(pool.pop())

        return next_pg

    def _load(self, conn: Connection, now: int, commands: Sequence[d.Command],
              extra_holds: Iterable[str] = ()) -> d.Book:
        hold_ids = sorted({h for c in commands for h in c.hold_ids()} | set(extra_holds))
        hold_wallets = self._hold_wallets(conn, hold_ids)
        txn_ids = sorted({t for c in commands for t in c.txn_ids()})
        originals = self._transactions(conn, txn_ids)
        wallet_ids = sorted({w for c in commands for w in c.wallet_ids()} | set(hold_wallets.values())
                            | {e.wallet for t in originals.values() for e in t.entries if e.wallet})
        book = d.Book(now, self._txn_ids(conn, len(commands) + len(hold_ids) + 1))
        book.originals = originals
        if not wallet_ids:
            return book
        self._lock_wallets(conn, wallet_ids)
        if txn_ids:  # read under the wallets' locks: a concurrent reversal of the same one is seen
            book.reversed_by = {int(r.reverses): int(r.id) for r in conn.execute(
                select(ledger_txns.c.id, ledger_txns.c.reverses).where(ledger_txns.c.reverses.in_(txn_ids)))}
        book.wallets = self._wallet_states(conn, wallet_ids)
        # Holds of these wallets: the ones asked for, plus overdue ones so they expire first.
        q = select(holds).where(holds.c.wallet_id.in_(list(book.wallets)),
                                or_(holds.c.id.in_(hold_ids),
                                    (holds.c.status == d.HoldStatus.OPEN) & (holds.c.expires_at <= now)))
        book.holds = {r.id: _hold(r) for r in conn.execute(q)}
        return book

    def _transactions(self, conn: Connection, txn_ids: Sequence[int]) -> dict[int, d.Txn]:
        if not txn_ids:
            return {}
        entries = _entries_of(conn, txn_ids)
        return {r.id: _txn(r, entries.get(r.id, []))
                for r in conn.execute(select(ledger_txns).where(ledger_txns.c.id.in_(txn_ids)))}

    def _hold_wallets(self, conn: Connection, hold_ids: Sequence[str]) -> dict[str, str]:
        out: dict[str, str] = {}
        for chunk in _chunks(hold_ids):
            out.update({r.id: r.wallet_id for r in conn.execute(
                select(holds.c.id, holds.c.wallet_id).where(holds.c.id.in_(chunk)))})
        return out

    def _lock_wallets(self, conn: Connection, wallet_ids: Sequence[str]) -> None:
        if not self.is_sqlite:  # fixed order: wallets by id, before anything else of theirs
            conn.execute(select(wallets.c.id).where(wallets.c.id.in_(wallet_ids))
                         .order_by(wallets.c.id).with_for_update()).all()

    def _wallet_states(self, conn: Connection, wallet_ids: Sequence[str]) -> dict[str, d.WalletState]:
        states = {r.id: d.WalletState(r.id, r.org, held=r.held, created_at=r.created_at)
                  for r in conn.execute(select(wallets).where(wallets.c.id.in_(wallet_ids)))}
        if states:
            q = select(accounts.c.wallet_id, accounts.c.token_type, accounts.c.balance).where(
                accounts.c.wallet_id.in_(list(states)))
            for r in conn.execute(q):
                setattr(states[r.wallet_id], r.token_type, r.balance)
        return states

    def _persist(self, conn: Connection, book: d.Book, fresh: dict[str, d.Stored], now: int) -> None:
        if book.new_wallets:
            conn.execute(wallets.insert(), [{"id": w, "org": book.wallets[w].org, "held": 0, "created_at": now}
                                            for w in book.new_wallets])
            conn.execute(accounts.insert(), [{"id": d.account_id(w, t), "wallet_id": w, "token_type": t,
                                              "balance": 0} for w in book.new_wallets for t in d.TOKEN_TYPES])
        if book.new_holds:
            conn.execute(holds.insert(), [_hold_row(book.holds[h]) for h in book.new_holds])
        changed = sorted(book.touched_holds - set(book.new_holds))
        if changed:
            conn.execute(holds.update().where(holds.c.id == bindparam("b_id")).values(
                remaining=bindparam("remaining"), settled=bindparam("settled"), released=bindparam("released"),
                status=bindparam("status")), [_hold_update(book.holds[h]) for h in changed])
        if book.txns:
            day = _day(now)
            self._insert(conn, ledger_txns, [_txn_row(t) for t in book.txns])
            entries = [(t.id, e.account, e.wallet, e.token_type, e.amount) for t in book.txns for e in t.entries]
            if entries:
                self._insert(conn, ledger_entries, entries)
            if book.events:
                self._insert(conn, gas_events, [_event_row(e, day) for e in book.events])
        if book.account_deltas:  # sorted: the fixed lock order for accounts on PostgreSQL
            conn.execute(accounts.update().where(accounts.c.id == bindparam("b_id")).values(
                balance=accounts.c.balance + bindparam("b_delta")),
                [{"b_id": a, "b_delta": n} for a, n in sorted(book.account_deltas.items()) if n])
        held = [{"b_id": w, "b_delta": n} for w, n in sorted(book.held_deltas.items()) if n]
        if held:
            conn.execute(wallets.update().where(wallets.c.id == bindparam("b_id")).values(
                held=wallets.c.held + bindparam("b_delta")), held)
        if fresh:
            self._insert(conn, idempotency_keys, [(k, s.fingerprint, s.status, _json(s.body), now)
                                                  for k, s in fresh.items()])

    def _insert(self, conn: Connection, table: Table, rows: list[tuple[Any, ...]]) -> None:
        """Bulk insert of positional rows, straight to the driver: the hot path writes ~5 rows
        per settlement, and SQLAlchemy's per-row parameter handling cost more than the
        database did. SQLite: executemany; PostgreSQL: COPY (far less work per row on both
        sides than one INSERT each). Rows follow the table's columns, minus autoincrement ids."""
        cols = self._insert_cols.get(table.name)
        if cols is None:
            cols = self._insert_cols[table.name] = [
                c.name for c in table.columns if not (c.primary_key and c.autoincrement is True)]
        if self.is_sqlite:
            marks = ", ".join("?" * len(cols))
            conn.exec_driver_sql(f"INSERT INTO {table.name} ({', '.join(cols)}) VALUES ({marks})", rows)
            return
        raw = conn.connection.driver_connection
        assert raw is not None
        with raw.cursor() as cur, cur.copy(f"COPY {table.name} ({', '.join(cols)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)

    # ------------------------------------------------------------------ maintenance

    def sweep(self, idempotency_hours: float = 72.0, limit: int = 500) -> int:
        """Expire overdue holds (freeing what they held) and forget idempotency keys past retention."""
        now = self.clock()

        def work(conn: Connection) -> int:
            due = [r.id for r in conn.execute(
                select(holds.c.id).where(holds.c.status == d.HoldStatus.OPEN, holds.c.expires_at <= now)
                .order_by(holds.c.expires_at).limit(limit))]
            book = self._load(conn, now, [], extra_holds=due)
            book.expire_due()
            self._persist(conn, book, {}, now)
            cutoff = now - int(idempotency_hours * 3600 * d.MICROS)
            conn.execute(idempotency_keys.delete().where(idempotency_keys.c.created_at < cutoff))
            return sum(1 for t in book.txns if t.type == d.TxType.EXPIRY)

        return self._transact(work)

    def put_bill_grants(self, wallet_id: str, grants: Sequence[Grant]) -> dict[str, Any]:
        """Replace the wallet's grants (callers checked by the HTTP model: org slug, service DNS label)."""
        def work(conn: Connection) -> dict[str, Any]:
            self._require_wallet(conn, wallet_id)
            conn.execute(bill_grants.delete().where(bill_grants.c.wallet_id == wallet_id))
            unique = sorted(set(grants))
            if unique:
                conn.execute(bill_grants.insert(), [{"wallet_id": wallet_id, "org": g.org, "service": g.service}
                                                    for g in unique])
            return views.grants_view(wallet_id, unique)

        return self._transact(work)

    # ------------------------------------------------------------------ org keys

    def create_key(self, wallet_id: str, role: Role, name: str) -> dict[str, Any]:
        """A new key of the wallet's org; the answer is the only place its secret ever appears."""
        key_id = secrets.token_hex(8)
        key = f"{KEY_PREFIX}{key_id}_{secrets.token_hex(24)}"
        now = self.clock()

        def work(conn: Connection) -> dict[str, Any]:
            org = conn.execute(select(wallets.c.org).where(wallets.c.id == wallet_id)).scalar()
            if org is None:
                raise d.wallet_not_found(wallet_id)
            conn.execute(org_keys.insert().values(id=key_id, wallet_id=wallet_id, org=org, role=str(role),
                                                  name=name, key_hash=_key_hash(key), created_at=now))
            return views.new_key_view(key_id, key, str(role), name, now)

        return self._transact(work)

    def list_keys(self, wallet_id: str) -> dict[str, Any]:
        """The wallet's live keys, without secrets or hashes, oldest first."""
        k = org_keys
        with self._read() as conn:
            self._require_wallet(conn, wallet_id)
            rows = conn.execute(select(k).where(k.c.wallet_id == wallet_id, k.c.revoked_at.is_(None))
                                .order_by(k.c.created_at, k.c.id)).all()
        return {"wallet": wallet_id, "keys": [views.key_view(r) for r in rows]}

    def revoke_key(self, wallet_id: str, key_id: str) -> None:
        """Revoked at once: the next request with the key is refused (nothing caches keys)."""
        def work(conn: Connection) -> None:
            self._require_wallet(conn, wallet_id)
            done = conn.execute(org_keys.update().where(
                org_keys.c.id == key_id, org_keys.c.wallet_id == wallet_id, org_keys.c.revoked_at.is_(None))
                .values(revoked_at=self.clock()))
            if done.rowcount == 0:
                raise Refusal(404, "KEY_NOT_FOUND", f"keyId: {wallet_id} has no live key {key_id!r}; list them "
                                f"with GET /v1/wallets/{wallet_id}/keys", "keyId")

        self._transact(work)

    def identity_for_key(self, key: str) -> Identity | None:
        """The org key's identity, or None (unknown, malformed or revoked). Marks it used (at most once
        a minute, so a busy key does not turn every read into a write)."""
        key_id = _key_id(key)
        if key_id is None:
            return None
        with self._read() as conn:
            row = conn.execute(select(org_keys).where(org_keys.c.id == key_id)).first()
        if row is None or row.revoked_at is not None or not hmac.compare_digest(row.key_hash, _key_hash(key)):
            return None
        now = self.clock()
        if row.last_used_at is None or now - row.last_used_at > LAST_USED_EVERY:
            self._transact(lambda conn: conn.execute(
                org_keys.update().where(org_keys.c.id == key_id).values(last_used_at=now)))
        return Identity(Role(row.role), row.org, key_id)

    def _require_wallet(self, conn: Connection, wallet_id: str) -> None:
        if conn.execute(select(wallets.c.id).where(wallets.c.id == wallet_id)).first() is None:
            raise d.wallet_not_found(wallet_id)

    # ------------------------------------------------------------------ reads

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self.reader.connect() as conn:
            with conn.begin():
                yield conn

    def get_wallet(self, wallet_id: str) -> dict[str, Any]:
        now = self.clock()
        with self._read() as conn:
            w = self._wallet_states(conn, [wallet_id]).get(wallet_id)
            if w is None:
                raise d.wallet_not_found(wallet_id)
            # Holds past their TTL no longer count, even before the sweep writes their expiry.
            overdue = conn.execute(select(func.coalesce(func.sum(holds.c.remaining), 0)).where(
                holds.c.wallet_id == wallet_id, holds.c.status == d.HoldStatus.OPEN,
                holds.c.expires_at <= now)).scalar_one()
            w.held -= int(overdue)
            return views.wallet_view(w)

    def get_bill_grants(self, wallet_id: str) -> dict[str, Any]:
        with self._read() as conn:
            self._require_wallet(conn, wallet_id)
            rows = conn.execute(select(bill_grants.c.org, bill_grants.c.service)
                                .where(bill_grants.c.wallet_id == wallet_id))
            # Sorted here, not by SQL: PostgreSQL's collation may order '-' differently from SQLite.
            return views.grants_view(wallet_id, sorted(Grant(r.org, r.service) for r in rows))

    def ledger(self, wallet_id: str, limit: int, cursor: int | None, start: int | None,
               end: int | None) -> dict[str, Any]:
        t = ledger_txns
        with self._read() as conn:
            self._require_wallet(conn, wallet_id)
            q = select(t).where(or_(t.c.wallet_id == wallet_id, t.c.counterparty == wallet_id))
            q = _window(q, t.c.created_at, start, end)
            if cursor is not None:
                q = q.where(t.c.id < cursor)
            rows = conn.execute(q.order_by(t.c.id.desc()).limit(limit + 1)).all()
            page = rows[:limit]
            entries = _entries_of(conn, [r.id for r in page])
        txns = [views.txn_view(_txn(r, entries.get(r.id, []))) for r in page]
        return {"wallet": wallet_id, "transactions": txns,
                "nextCursor": str(page[-1].id) if len(rows) > limit else None}

    def gas_events(self, *, start: int | None, end: int | None, service: str | None, org: str | None,
                   limit: int, cursor: int | None) -> dict[str, Any]:
        g = gas_events
        q = _window(select(g), g.c.created_at, start, end)
        if service:
            q = q.where(g.c.service == service)
        if org:
            q = q.where(g.c.org == org)
        if cursor is not None:
            q = q.where(g.c.id < cursor)
        with self._read() as conn:
            rows = conn.execute(q.order_by(g.c.id.desc()).limit(limit + 1)).all()
        page = rows[:limit]
        return {"events": [views.event_view(r) for r in page],
                "nextCursor": str(page[-1].id) if len(rows) > limit else None}

    def gas_stats(self, *, by: str, start: int | None, end: int | None, service: str | None,
                  org: str | None) -> dict[str, Any]:
        g = gas_events
        key = g.c.day if by == "day" else func.coalesce(g.c.service, "")
        api = func.sum(case((g.c.kind == "api", g.c.tokens), else_=0))
        hosting = func.sum(case((g.c.kind == "hosting", g.c.tokens), else_=0))
        q = _window(select(key.label("k"), func.sum(g.c.tokens), func.count(), api, hosting), g.c.created_at,
                    start, end)
        if service:
            q = q.where(g.c.service == service)
        if org:
            q = q.where(g.c.org == org)
        with self._read() as conn:
            rows = conn.execute(q.group_by(key).order_by(key)).all()
        groups = [{"key": r[0], "tokens": int(r[1] or 0), "events": int(r[2]), "apiTokens": int(r[3] or 0),
                   "hostingTokens": int(r[4] or 0)} for r in rows]
        return {"by": by, "groups": groups, "total": {"tokens": sum(x["tokens"] for x in groups),
                                                      "events": sum(x["events"] for x in groups)}}

    def facts(self) -> d.LedgerFacts:
        """Everything the integrity check needs, from SQL aggregates (one consistent snapshot)."""
        e = ledger_entries
        with self._read() as conn:
            unbalanced = {r[0]: int(r[1]) for r in conn.execute(
                select(e.c.txn_id, func.sum(e.c.amount)).group_by(e.c.txn_id).having(func.sum(e.c.amount) != 0))}
            balances = {r.id: r.balance for r in conn.execute(select(accounts.c.id, accounts.c.balance))}
            totals = {r[0]: int(r[1]) for r in conn.execute(
                select(e.c.account_id, func.sum(e.c.amount)).group_by(e.c.account_id))}
            states = self._wallet_states(conn, [r.id for r in conn.execute(select(wallets.c.id))])
            open_held = {r[0]: int(r[1]) for r in conn.execute(
                select(holds.c.wallet_id, func.sum(holds.c.remaining)).where(holds.c.status == d.HoldStatus.OPEN)
                .group_by(holds.c.wallet_id))}
            bad = [r.id for r in conn.execute(select(holds).where(or_(
                holds.c.remaining < 0, holds.c.settled < 0, holds.c.released < 0,
                holds.c.remaining + holds.c.settled + holds.c.released != holds.c.tokens)))]
            counts = {name: int(conn.execute(select(func.count()).select_from(tbl)).scalar_one())
                      for name, tbl in (("transactions", ledger_txns), ("entries", e), ("wallets", wallets),
                                        ("holds", holds), ("gasEvents", gas_events))}
        return d.LedgerFacts(unbalanced, balances, totals, list(states.values()), open_held, bad, counts)

    def integrity(self) -> dict[str, Any]:
        facts = self.facts()
        problems = d.integrity_problems(facts)
        return {"ok": not problems, "problems": problems, "counts": facts.counts}

    def ping(self) -> None:
        with self.reader.connect() as conn:
            conn.execute(text("SELECT 1"))


# ---------------------------------------------------------------------- row mapping

KEY_PREFIX = "twk_"  # twk_{id}_{secret}: the id finds the row, the hash of the whole key proves it
LAST_USED_EVERY = 60 * d.MICROS


def _key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _key_id(key: str) -> str | None:
    if not key.startswith(KEY_PREFIX) or len(key) > 200:
        return None
    key_id, sep, secret = key[len(KEY_PREFIX):].partition("_")
    return key_id if sep and secret and len(key_id) <= 32 and key_id.isalnum() else None



def _window(q: Any, column: Any, start: int | None, end: int | None) -> Any:
    if start is not None:
        q = q.where(column >= start)
    if end is not None:
        q = q.where(column < end)
    return q


def _entries_of(conn: Connection, txn_ids: Sequence[int]) -> dict[int, list[d.Entry]]:
    """The entries of these transactions, in the order they were written."""
    entries: dict[int, list[d.Entry]] = {}
    if txn_ids:
        q = select(ledger_entries).where(ledger_entries.c.txn_id.in_(txn_ids)).order_by(ledger_entries.c.id)
        for e in conn.execute(q):
            entries.setdefault(e.txn_id, []).append(d.Entry(e.account_id, e.wallet_id, e.token_type, e.amount))
    return entries


def _hold(r: Any) -> d.HoldState:
    return d.HoldState(r.id, r.wallet_id, r.tokens, r.remaining, r.settled, r.released, r.status, r.expires_at,
                       r.created_at)


def _hold_row(h: d.HoldState) -> dict[str, Any]:
    return {"id": h.id, "wallet_id": h.wallet, "tokens": h.tokens, "remaining": h.remaining, "settled": h.settled,
            "released": h.released, "status": str(h.status), "expires_at": h.expires_at, "created_at": h.created_at}


def _hold_update(h: d.HoldState) -> dict[str, Any]:
    return {"b_id": h.id, "remaining": h.remaining, "settled": h.settled, "released": h.released,
            "status": str(h.status)}


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def _txn_row(t: d.Txn) -> tuple[Any, ...]:
    return (t.id, str(t.type), t.wallet, t.counterparty, t.amount, t.hold, _json(t.details) if t.details else None,
            t.created_at, t.actor, t.reverses)


def _txn(r: Any, entries: list[d.Entry]) -> d.Txn:
    return d.Txn(r.id, r.type, r.wallet_id, r.amount, r.created_at, tuple(entries), r.counterparty, r.hold_id,
                 orjson.loads(r.details) if r.details else {}, r.actor, r.reverses)


def _day(micros: int) -> str:
    return datetime.fromtimestamp(micros / d.MICROS, tz=UTC).strftime("%Y-%m-%d")


def _event_row(e: d.GasEvent, day: str) -> tuple[Any, ...]:
    return (e.txn_id, e.kind, e.org, e.wallet, e.provider, e.service, e.route, e.method, e.tokens, e.request_id,
            _json(e.details) if e.details else None, day, e.created_at)
