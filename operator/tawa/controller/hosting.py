"""Hourly hosting buckets (pure).

A bucket is charged once, as soon as the timer sees Ready pods in it (hosting
is paid at the start of each hour for the pods running then), keyed by
`hosting/{component uid}/{bucket start}` so that no bucket is ever charged
twice. After downtime the missed buckets are charged too, at most `limit` of
them. A deleted Component is not charged again: its current bucket was
already paid at its start, and nothing is refunded.
"""

from __future__ import annotations

from datetime import datetime, timezone


def bucket_start(now: float, period: float) -> float:
    return (now // period) * period


def bucket_id(start: float) -> str:
    dt = datetime.fromtimestamp(start, tz=timezone.utc)
    fmt = "%Y-%m-%dT%H:%M:%SZ" if dt.microsecond == 0 else "%Y-%m-%dT%H:%M:%S.%fZ"
    return dt.strftime(fmt)


def parse_bucket_id(value: str) -> float:
    for fmt in ("%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S.%fZ"):
        try:
            return datetime.strptime(value, fmt).replace(tzinfo=timezone.utc).timestamp()
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
