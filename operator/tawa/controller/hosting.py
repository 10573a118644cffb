"""Hourly hosting buckets (pure).

A bucket is charged once, as soon as the timer sees Ready pods in it (hosting
is paid at the start of each hour for the pods running then), keyed by
`hosting/{component uid}/{bucket start}` so that no bucket is ever charged
twice. After downtime the missed buckets are charged too, at most `limit` of
them. A deleted Component is not charged again: its current bucket was
already paid at its start, and nothing is refunded.

A bucket in which the timer saw the Component with no Ready pods (and none
Ready later in that bucket) is idle: it is never charged, neither then nor as
catch-up. Catch-up is for buckets the operator did not see, which it charges as
if the pods Ready now ran in them. Idle buckets are numbered (`bucket_index`)
and kept only after the last charged one and inside the catch-up window: no
other bucket could be charged anyway.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any


def bucket_start(now: float, period: float) -> float:
    return (now // period) * period


def bucket_id(start: float) -> str:
    dt = datetime.fromtimestamp(start, tz=UTC)
    fmt = "%Y-%m-%dT%H:%M:%SZ" if dt.microsecond == 0 else "%Y-%m-%dT%H:%M:%S.%fZ"
    return dt.strftime(fmt)


def parse_bucket_id(value: str) -> float:
    for fmt in ("%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S.%fZ"):
        try:
            return datetime.strptime(value, fmt).replace(tzinfo=UTC).timestamp()
        except ValueError:
            continue
    raise ValueError(f"not a bucket id: {value!r}")


def buckets_due(last_charged: str | None, now: float, period: float, limit: int = 24) -> list[str]:
    """Bucket ids not charged yet, oldest first, ending with the current one."""
    current = bucket_start(now, period)
    if last_charged is None:
        return [bucket_id(current)]
    first = parse_bucket_id(last_charged) + period
    count = int(round((current - first) / period)) + 1
    starts = [current - period * i for i in range(min(max(count, 0), limit))]
    return [bucket_id(s) for s in reversed(starts)]


def later(a: str | None, b: str | None) -> str | None:
    """The later of two bucket ids (None: no bucket)."""
    if a is None or b is None:
        return a if b is None else b
    return a if parse_bucket_id(a) >= parse_bucket_id(b) else b


def idempotency_key(component_uid: str, bucket: str) -> str:
    return f"hosting/{component_uid}/{bucket}"


def bucket_index(bucket: str, period: float) -> int:
    """The bucket's number since the epoch: whole numbers compare and step exactly, at any period."""
    return round(parse_bucket_id(bucket) / period)


def bucket_at(index: int, period: float) -> str:
    return bucket_id(index * period)  # the same float as bucket_start: index == now // period


def window(now: float, period: float, limit: int) -> range:
    """The bucket numbers catch-up can still charge: the last `limit`, ending with the current one."""
    current = int(now // period)
    return range(current - limit + 1, current + 1)


def idle_buckets(value: Any, period: float, within: range) -> frozenset[int]:
    """status.idleHours ([{from, through}]) as bucket numbers inside `within`. Anything
    malformed counts as not idle: a bucket is charged rather than forgiven."""
    found: set[int] = set()
    for stretch in value if isinstance(value, list) else []:
        try:
            first, last = (bucket_index(str(stretch[k]), period) for k in ("from", "through"))
        except (KeyError, TypeError, ValueError):
            continue
        found.update(range(max(first, within.start), min(last, within.stop - 1) + 1))
    return frozenset(found)


def idle_hours(idle: Iterable[int], period: float) -> list[dict[str, str]]:
    """Bucket numbers as status.idleHours: consecutive ones as one {from, through} stretch."""
    stretches: list[list[int]] = []
    for index in sorted(idle):
        if stretches and index == stretches[-1][1] + 1:
            stretches[-1][1] = index
        else:
            stretches.append([index, index])
    return [{"from": bucket_at(a, period), "through": bucket_at(b, period)} for a, b in stretches]


def billable(due: list[str], idle: frozenset[int], period: float) -> list[str]:
    """The due buckets without the idle ones. The last stays: it is the current bucket,
    whose pods may have become Ready since it was seen idle (or, suspended, the last
    bucket charged with pods, which was never idle)."""
    return [b for b in due[:-1] if bucket_index(b, period) not in idle] + due[-1:]


def marks_idle(current: int, last_charged: int | None, seen_ready: int | None, idle: frozenset[int]) -> bool:
    """Whether a Component seen with no Ready pods now makes the current bucket idle: not
    before its first charge (there is nothing to catch up), not once charged, not when
    this process saw Ready pods in it (charged or owed: never forgiven), not twice."""
    return last_charged is not None and current > last_charged and current != seen_ready and current not in idle


def pruned_idle(idle: frozenset[int], last_charged: int | None, within: range) -> frozenset[int]:
    """The idle buckets still worth recording: after the last charged one, inside the window."""
    return frozenset(i for i in idle if i in within and (last_charged is None or i > last_charged))
