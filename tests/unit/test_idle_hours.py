"""Idle hosting buckets (pure): a bucket seen with no Ready pods is never charged,
not even as catch-up; unpaid and unseen buckets still are."""

from __future__ import annotations

import pytest

from tawa.controller import hosting
from tawa.controller.hosting import (
    billable,
    bucket_at,
    bucket_id,
    bucket_index,
    bucket_start,
    buckets_due,
    idle_buckets,
    idle_hours,
    marks_idle,
    pruned_idle,
    window,
)

P = 3600.0
N0 = 480_000  # bucket number of some hour in 2024


def b(n: int, period: float = P) -> str:
    return bucket_at(N0 + n, period)


def idx(*ns: int) -> frozenset[int]:
    return frozenset(N0 + n for n in ns)


@pytest.mark.parametrize("period", [3600.0, 2.0, 0.3, 0.7])
def test_bucket_numbers_name_the_same_buckets_as_bucket_start(period: float) -> None:
    for now in (1_700_000_000.123, 1_700_000_000.0, 1_700_003_599.999):
        start = bucket_start(now, period)
        current = window(now, period, 24).stop - 1
        assert bucket_at(current, period) == bucket_id(start)
        assert bucket_index(bucket_id(start), period) == current
        assert bucket_index(bucket_id(start + period), period) == current + 1


def test_window_is_the_last_catch_up_buckets_ending_now() -> None:
    within = window((N0 + 0.5) * P, P, 24)
    assert within == range(N0 - 23, N0 + 1) and len(within) == 24


def test_idle_buckets_are_kept_as_stretches_and_read_back() -> None:
    idle = idx(1, 2, 3, 5, 8, 9)
    shown = idle_hours(idle, P)
    assert shown == [{"from": b(1), "through": b(3)}, {"from": b(5), "through": b(5)},
                     {"from": b(8), "through": b(9)}]
    assert idle_buckets(shown, P, range(N0 - 23, N0 + 10)) == idle
    assert idle_hours(frozenset(), P) == []


def test_reading_idle_buckets_keeps_the_window_and_charges_rather_than_forgives_the_malformed() -> None:
    within = range(N0, N0 + 24)
    assert idle_buckets([{"from": b(-100), "through": b(2)}], P, within) == idx(0, 1, 2)
    assert idle_buckets([{"from": b(20), "through": b(10_000)}], P, within) == idx(20, 21, 22, 23)
    junk: list[object] = [None, "x", {}, [None], [{"from": b(1)}], [{"from": "yesterday", "through": b(2)}],
                          [[b(1), b(2)]]]
    for value in junk:
        assert idle_buckets(value, P, within) == frozenset()
    # One bad stretch does not hide a good one.
    assert idle_buckets([{"from": "?", "through": b(3)}, {"from": b(5), "through": b(5)}], P, within) == idx(5)


def test_idle_buckets_are_not_caught_up_but_unseen_and_unpaid_ones_are() -> None:
    now = (N0 + 9.5) * P
    # Charged through 3, seen at 0 pods in 4..8, pods Ready again in 9: only 9 is charged.
    assert billable(buckets_due(b(3), now, P), idx(4, 5, 6, 7, 8), P) == [b(9)]
    # The operator was down in 5 and 6: those it did not see are caught up (documented).
    assert billable(buckets_due(b(3), now, P), idx(4, 7, 8), P) == [b(5), b(6), b(9)]
    # 1..3 unpaid while pods ran, then 4..8 at 0 pods: the unpaid ones are still owed.
    assert billable(buckets_due(b(0), now, P), idx(4, 5, 6, 7, 8), P) == [b(1), b(2), b(3), b(9)]


def test_the_current_bucket_is_charged_when_pods_become_ready_after_it_was_seen_idle() -> None:
    now = (N0 + 9.5) * P
    assert billable(buckets_due(b(8), now, P), idx(9), P) == [b(9)]
    assert billable([], idx(9), P) == []


def test_a_suspended_component_owes_the_hours_with_pods_not_the_idle_ones_before() -> None:
    owed = [b(n) for n in range(1, 10)]  # last paid 0, suspended with pods in 9
    assert billable(owed, idx(4, 5, 6, 7, 8), P) == [b(1), b(2), b(3), b(9)]


@pytest.mark.parametrize(("last_charged", "seen_ready", "idle", "marks"), [
    (N0 + 3, None, idx(), True),  # first time seen at 0 pods in bucket 5
    (N0 + 3, None, idx(4, 5), False),  # recorded already: one write per bucket, not per poll
    (None, None, idx(), False),  # never charged: nothing to catch up, nothing to write
    (N0 + 5, None, idx(), False),  # charged at its start, scaled down since: paid, nothing to settle
    (N0 + 3, N0 + 5, idx(), False),  # Ready earlier in this bucket: charged (or owed if unpaid), never forgiven
    (N0 + 3, N0 + 4, idx(), True),  # Ready in the previous bucket only
])
def test_when_a_bucket_is_recorded_idle(last_charged: int | None, seen_ready: int | None, idle: frozenset[int],
                                        marks: bool) -> None:
    assert marks_idle(N0 + 5, last_charged, seen_ready, idle) is marks


def test_idle_buckets_kept_are_after_the_last_charge_and_inside_the_window() -> None:
    within = range(N0 - 23, N0 + 1)
    assert pruned_idle(idx(-30, -23, -1, 0), None, within) == idx(-23, -1, 0)
    assert pruned_idle(idx(-5, -4, -1, 0), N0 - 4, within) == idx(-1, 0)
    assert pruned_idle(idx(-1, 0), N0, within) == frozenset()


def test_a_day_of_observations_charges_only_the_hours_with_pods() -> None:
    """The loop's bookkeeping step by step: (bucket, Ready pods) as the operator sees them."""
    seen = [(1, 1), (2, 0), (3, 0), (4, 0), (4, 1), (5, 1), (6, 0), (7, 0), (9, 1)]  # 8: operator down
    last = b(0)
    idle: frozenset[int] = frozenset()
    seen_ready: int | None = None
    charged: list[str] = []
    for n, pods in seen:
        now, within = (N0 + n + 0.5) * P, window((N0 + n + 0.5) * P, P, 24)
        if pods:
            seen_ready = N0 + n
            due = billable(buckets_due(last, now, P), idle, P)
            charged += due
            last = due[-1] if due else last
            idle = pruned_idle(idle - {bucket_index(x, P) for x in due}, bucket_index(last, P), within)
        elif marks_idle(N0 + n, bucket_index(last, P), seen_ready, idle):
            idle = pruned_idle(idle | {N0 + n}, bucket_index(last, P), within)
    # 2 and 3 at 0 pods; 4 seen at 0 then Ready mid-bucket; 6, 7 at 0; 8 unseen: caught up.
    assert charged == [b(1), b(4), b(5), b(8), b(9)]
    assert hosting.idle_hours(idle, P) == []
