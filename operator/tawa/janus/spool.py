"""The durable local spool: charges the wallet has not confirmed yet.

A charge lands here when the wallet could not be reached to settle it (or to
hold for it: fail-open). Each row keeps the settlement's idempotency key, so
sending it again when the wallet is back can never charge twice. SQLite with
WAL and synchronous=FULL: a row is on disk (fsync'd) before `add` returns.
Worker processes share the file; a row is leased to one drainer at a time.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS usage (
    key TEXT PRIMARY KEY,
    org TEXT NOT NULL,
    hold TEXT,
    provider TEXT NOT NULL,
    tokens INTEGER NOT NULL CHECK (tokens > 0),
    service TEXT NOT NULL,
    route TEXT NOT NULL,
    method TEXT NOT NULL,
    request_id TEXT NOT NULL,
    created_at REAL NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_try REAL NOT NULL DEFAULT 0,
    leased_until REAL NOT NULL DEFAULT 0,
    last_error TEXT
);
CREATE INDEX IF NOT EXISTS usage_due ON usage (state, next_try);
"""


@dataclass(frozen=True)
class Charge:
    """One 2xx call to bill: settle `tokens` from `org`'s hold to `provider`."""

    key: str  # the settlement's idempotency key, fixed for the charge's whole life
    org: str
    hold: str | None
    provider: str
    tokens: int
    service: str
    route: str
    method: str
    request_id: str


_COLUMNS = "key, org, hold, provider, tokens, service, route, method, request_id"


class Spool:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), timeout=30, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _write(self, sql: str, rows: Iterable[Sequence[object]]) -> None:
        with self._lock:
            write_rows(self._db, sql, rows)

    def add(self, charges: Sequence[Charge]) -> None:
        """Durably record charges (a replayed key is ignored: it is the same charge)."""
        now = time.time()
        self._write(f"INSERT OR IGNORE INTO usage ({_COLUMNS}, created_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
                    [(c.key, c.org, c.hold, c.provider, c.tokens, c.service, c.route, c.method, c.request_id, now)
                     for c in charges])

    def lease(self, limit: int, seconds: float = 30.0) -> list[Charge]:
        """Pending charges that are due, leased so that other workers skip them for a while."""
        now = time.time()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                rows = self._db.execute(
                    f"SELECT {_COLUMNS} FROM usage WHERE state='pending' AND next_try<=? AND leased_until<=? "
                    "ORDER BY created_at LIMIT ?", (now, now, limit)).fetchall()
                self._db.executemany("UPDATE usage SET leased_until=? WHERE key=?",
                                     [(now + seconds, r[0]) for r in rows])
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        return [Charge(*r) for r in rows]

    def done(self, keys: Sequence[str]) -> None:
        self._write("DELETE FROM usage WHERE key=?", [(k,) for k in keys])

    def set_hold(self, keys: Sequence[str], hold: str | None) -> None:
        self._write("UPDATE usage SET hold=? WHERE key=?", [(hold, k) for k in keys])

    def retry_later(self, keys: Sequence[str], delay: float, error: str) -> None:
        at = time.time() + delay
        self._write("UPDATE usage SET attempts=attempts+1, next_try=?, leased_until=0, last_error=? WHERE key=?",
                    [(at, error, k) for k in keys])

    def unlease(self, keys: Sequence[str]) -> None:
        self._write("UPDATE usage SET leased_until=0 WHERE key=?", [(k,) for k in keys])

    def reject(self, key: str, error: str) -> None:
        """The wallet refused the charge for good (e.g. the provider has no wallet): keep it for people."""
        self._write("UPDATE usage SET state='rejected', last_error=? WHERE key=?", [(error, key)])

    def pending(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM usage WHERE state='pending'").fetchone()[0])

    def unbacked_tokens(self) -> dict[str, int]:
        """Per org, pending tokens with no hold behind them: the fail-open exposure."""
        with self._lock:
            rows = self._db.execute("SELECT org, sum(tokens) FROM usage WHERE state='pending' AND hold IS NULL "
                                    "GROUP BY org").fetchall()
        return {org: int(total) for org, total in rows}


def write_rows(db: sqlite3.Connection, sql: str, rows: Iterable[Sequence[object]]) -> None:
    """Write all rows in one immediate transaction, or none of them."""
    db.execute("BEGIN IMMEDIATE")
    try:
        db.executemany(sql, rows)
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
