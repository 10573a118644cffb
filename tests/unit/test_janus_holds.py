"""Local hold accounting: nothing is promised beyond what the wallet held."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tawa.janus.holds import HoldBook


def book() -> HoldBook:
    return HoldBook(chunk=10, chunk_max=80, margin=5.0)


def test_reserve_comes_out_of_a_hold_and_cancel_gives_it_back() -> None:
    b = book()
    assert b.reserve("acme", 3, 0.0) is None
    b.add("acme", "h1", 10, 0.0, 60)
    r = b.reserve("acme", 3, 1.0)
    assert r is not None and r.hold is not None and r.hold.free == 7
    b.cancel(r)
    assert r.hold.free == 10 and r.hold.reserved == 0


def test_commit_then_settled_leaves_the_hold_idle() -> None:
    b = book()
    hold = b.add("acme", "h1", 10, 0.0, 60)
    r = b.reserve("acme", 4, 0.0)
    assert r is not None
    b.commit(r)
    assert (hold.free, hold.reserved, hold.unsettled) == (6, 0, 4)
    b.settled("h1", "acme", 4)
    assert not hold.busy()


def test_a_hold_near_expiry_takes_no_new_calls() -> None:
    b = book()
    b.add("acme", "h1", 10, 0.0, 60)
    assert b.reserve("acme", 1, 54.9) is not None
    assert b.reserve("acme", 1, 55.0) is None


def test_chunks_grow_while_used_quickly_and_reset_after_quiet() -> None:
    b = book()
    assert b.next_chunk("acme", 1, 0.0) == 10
    b.add("acme", "h1", 10, 0.0, 60)
    assert b.next_chunk("acme", 1, 1.0) == 20
    b.add("acme", "h2", 20, 1.0, 60)
    assert b.next_chunk("acme", 1, 2.0) == 40
    b.add("acme", "h3", 40, 2.0, 60)
    assert b.next_chunk("acme", 1, 3.0) == 80
    b.add("acme", "h4", 80, 3.0, 60)
    assert b.next_chunk("acme", 1, 4.0) == 80
    assert b.next_chunk("acme", 1, 100.0) == 10
    assert b.next_chunk("acme", 500, 100.0) == 500  # never smaller than the call


def test_sweep_releases_idle_holds_once_nothing_is_pending() -> None:
    b = book()
    hold = b.add("acme", "h1", 10, 0.0, 60)
    r = b.reserve("acme", 2, 0.0)
    assert r is not None
    b.commit(r)
    assert b.sweep(40.0, idle_after=30.0) == []  # retired, but a settlement is outstanding
    assert hold.retired and b.reserve("acme", 1, 40.0) is None
    b.settled("h1", "acme", 2)
    assert b.sweep(41.0, idle_after=30.0) == [hold]
    assert b.open_holds() == []


def test_expired_holds_are_dropped_without_release() -> None:
    b = book()
    b.add("acme", "h1", 10, 0.0, 60)
    assert b.sweep(61.0, idle_after=300.0) == []
    assert b.open_holds() == []


def test_unbacked_exposure_is_capped() -> None:
    b = book()
    assert b.reserve_unbacked("acme", 6, cap=10) is not None
    assert b.reserve_unbacked("acme", 5, cap=10) is None
    r = b.reserve_unbacked("acme", 4, cap=10)
    assert r is not None and b.exposure("acme") == 10
    b.cancel(r)
    assert b.exposure("acme") == 6


@settings(max_examples=200)
@given(st.lists(st.tuples(st.sampled_from(["reserve", "commit", "cancel", "settle", "add", "sweep"]),
                          st.integers(1, 7)), max_size=60))
def test_never_promises_more_than_was_held(ops: list[tuple[str, int]]) -> None:
    """Whatever happens, each hold's tokens are exactly free + in flight + charged:
    charges can never exceed what the wallet held."""
    b = book()
    held = charged = 0
    charged_from: dict[str, int] = {}
    now = 0.0
    open_res = []
    committed = []
    for i, (op, n) in enumerate(ops):
        now += 0.5
        if op == "add":
            b.add("acme", f"h{i}", n * 3, now, 60)
            held += n * 3
        elif op == "reserve":
            r = b.reserve("acme", n, now)
            if r is not None:
                open_res.append(r)
        elif op == "commit" and open_res:
            r = open_res.pop(0)
            b.commit(r)
            committed.append(r)
            charged += r.tokens
            assert r.hold is not None
            charged_from[r.hold.id] = charged_from.get(r.hold.id, 0) + r.tokens
        elif op == "cancel" and open_res:
            b.cancel(open_res.pop())
        elif op == "settle" and committed:
            r = committed.pop(0)
            assert r.hold is not None
            b.settled(r.hold.id, "acme", r.tokens)
        elif op == "sweep":
            b.sweep(now, idle_after=5.0)
        assert charged <= held
        for h in b.open_holds():
            assert h.free >= 0 and h.reserved >= 0 and h.unsettled >= 0
            assert h.free + h.reserved + charged_from.get(h.id, 0) == h.tokens
