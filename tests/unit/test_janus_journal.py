"""The per-worker journal: charges of one loop turn share a commit and survive reopening."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tawa.janus.journal import Journal
from tawa.janus.spool import Charge


def charge(key: str) -> Charge:
    return Charge(key, "acme", "h1", "wallet-insureco", 5, "docman", "/documents", "POST", key)


def test_record_forget_and_reopen(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.db")

    async def record() -> None:
        await asyncio.gather(*(journal.record(charge(f"k{i}")) for i in range(5)))

    asyncio.run(record())
    journal.forget(["k1", "k3"])
    journal.close()  # a killed process leaves the same file behind
    again = Journal(tmp_path / "j.db")
    assert sorted(c.key for c in again.all()) == ["k0", "k2", "k4"]
    assert again.all()[0] == charge(again.all()[0].key)


def test_one_commit_per_loop_turn(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.db")
    commits = 0
    original = journal._write

    def counting(sql: str, rows: list[tuple[object, ...]]) -> None:
        nonlocal commits
        commits += 1
        original(sql, rows)

    journal._write = counting  # type: ignore[method-assign]

    async def burst() -> None:
        await asyncio.gather(*(journal.record(charge(f"k{i}")) for i in range(50)))

    asyncio.run(burst())
    assert commits == 1 and len(journal.all()) == 50
