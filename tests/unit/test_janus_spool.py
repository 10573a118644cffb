"""The durable spool: charges survive a restart and leave only when settled."""

from __future__ import annotations

from pathlib import Path

from tawa.janus.spool import Charge, Spool


def charge(key: str, org: str = "acme", hold: str | None = None, tokens: int = 5) -> Charge:
    return Charge(key, org, hold, "wallet-insureco", tokens, "docman", "/documents", "POST", key)


def test_charges_survive_reopening_and_replays_are_ignored(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.db")
    spool.add([charge("k1"), charge("k2", hold="h1")])
    spool.add([charge("k1")])  # the same charge again: still one row
    spool.close()
    spool = Spool(tmp_path / "spool.db")
    assert spool.pending() == 2
    assert spool.unbacked_tokens() == {"acme": 5}


def test_lease_hides_rows_from_other_drainers_until_released(tmp_path: Path) -> None:
    a, b = Spool(tmp_path / "spool.db"), Spool(tmp_path / "spool.db")
    a.add([charge("k1"), charge("k2")])
    leased = a.lease(10)
    assert {c.key for c in leased} == {"k1", "k2"}
    assert b.lease(10) == []
    a.unlease(["k2"])
    assert [c.key for c in b.lease(10)] == ["k2"]


def test_done_set_hold_retry_and_reject(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.db")
    spool.add([charge("k1"), charge("k2"), charge("k3")])
    spool.set_hold(["k1"], "h9")
    assert spool.unbacked_tokens() == {"acme": 10}
    spool.done(["k1"])
    spool.retry_later(["k2"], 3600, "org short")
    spool.reject("k3", "provider has no wallet")
    assert spool.pending() == 1  # k2 waits; k3 is kept for people but no longer pending
    assert spool.lease(10) == []
