"""The per-worker journal: 2xx charges answered but not yet confirmed by the wallet.

A charge is written here before its response goes back to the caller, and
forgotten once the wallet confirmed it (or the spool took it over). A worker
killed in between leaves its charges here; the next process with the same
worker number moves them to the spool, which settles them with the same
idempotency keys. So a crash of Janus no longer loses the charges of its
last settlement batch.

The journal must be cheap on the hot path, so it is one SQLite file per worker
(no lock shared with other processes), written on the event loop, and never
fsync'd (synchronous=OFF): a commit is a write into the page cache, which
survives the process being killed, though not the machine losing power —
that is the spool's job (fsync'd) for charges that wait on the wallet.
Commits are grouped: every charge recorded in one turn of the loop shares one.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence
from pathlib import Path

from tawa.janus.spool import Charge, write_rows

SCHEMA = """
CREATE TABLE IF NOT EXISTS charges (
    key TEXT PRIMARY KEY, org TEXT NOT NULL, hold TEXT, provider TEXT NOT NULL, tokens INTEGER NOT NULL,
    service TEXT NOT NULL, route TEXT NOT NULL, method TEXT NOT NULL, request_id TEXT NOT NULL
) WITHOUT ROWID
"""
_COLUMNS = "key, org, hold, provider, tokens, service, route, method, request_id"


def journal_path(data_dir: Path, worker: int) -> Path:
    return data_dir / f"janus-journal-{worker}.db"


class Journal:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA page_size=1024")  # a commit writes whole pages: keep them small
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=OFF")
        self._db.execute(SCHEMA)
        self._pending: list[Charge] = []
        self._waiters: list[asyncio.Future[None]] = []

    def close(self) -> None:
        self._db.close()

    def record(self, charge: Charge) -> asyncio.Future[None]:
        """Done once `charge` is in the journal; charges of the same loop turn share a commit."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        if not self._pending:
            loop.call_soon(self._commit)
        self._pending.append(charge)
        self._waiters.append(future)
        return future

    def _commit(self) -> None:
        charges, waiters = self._pending, self._waiters
        self._pending, self._waiters = [], []
        try:
            self._write(f"INSERT OR IGNORE INTO charges ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?)",
                        [(c.key, c.org, c.hold, c.provider, c.tokens, c.service, c.route, c.method, c.request_id)
                         for c in charges])
        except sqlite3.Error as exc:
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_exception(exc)
            return
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def forget(self, keys: Sequence[str]) -> None:
        if keys:
            self._write("DELETE FROM charges WHERE key=?", [(k,) for k in keys])

    def all(self) -> list[Charge]:
        return [Charge(*row) for row in self._db.execute(f"SELECT {_COLUMNS} FROM charges")]

    def _write(self, sql: str, rows: list[tuple[object, ...]]) -> None:
        write_rows(self._db, sql, rows)
