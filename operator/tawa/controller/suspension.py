"""The optional `suspendAfter` hosting policy (pure).

When a Component's hosting has gone unpaid for longer than the grace (measured
from the moment the operator found it unpaid: GasExhausted's flip to True, the
HostingUnpaid warning), its Deployment is scaled to 0. The buckets it owes —
those charged while it had pods — keep being retried at the pod count it had;
once they are paid it is scaled back, and the buckets it spent at 0 pods are
settled without a charge.

The state lives in `status.suspended` (written by the billing writer), never in
memory: a restart or a second operator replica reads the same decision.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tawa.controller import hosting

ISO = "%Y-%m-%dT%H:%M:%SZ"


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime(ISO)


def parse_iso(value: str) -> float:
    return datetime.strptime(value, ISO).replace(tzinfo=UTC).timestamp()


@dataclass(frozen=True)
class Suspension:
    since: str  # when it was scaled to 0 (UTC, seconds)
    hour: str  # the last bucket charged while it had pods: the owed buckets end here
    pods: int  # pods per owed bucket: those Ready when it was suspended

    def to_status(self) -> dict[str, Any]:
        return {"since": self.since, "lastHour": self.hour, "pods": self.pods}

    @classmethod
    def from_status(cls, value: Any) -> Suspension | None:
        if not isinstance(value, Mapping) or not value.get("lastHour") or int(value.get("pods") or 0) < 1:
            return None  # not suspended (or a status no operator wrote)
        return cls(str(value.get("since") or ""), str(value["lastHour"]), int(value["pods"]))

    def owed(self, last_settled: str | None, period: float, limit: int) -> list[str]:
        """The buckets still to pay, oldest first: none after `hour`, when it had no pods.
        (Half a period past the bucket start keeps float bucket ids on the right side.)"""
        return hosting.buckets_due(last_settled, hosting.parse_bucket_id(self.hour) + period / 2, period, limit)


class Step(enum.Enum):
    NONE = "none"  # not suspended, and no reason to be
    SUSPEND = "suspend"  # unpaid for longer than the grace: scale to 0 now
    HOLD = "hold"  # suspended and still unpaid: stay at 0
    RESUME = "resume"  # suspended and paid: scale back


def decide(suspend_after: float, suspended: bool, unpaid: bool, deferred: bool,
           unpaid_since: float | None, now: float) -> Step:
    """What to do after a round of charges. Only the wallet's answer of this round
    moves a Component in or out of suspension (a stale status cannot), and an
    unreachable wallet changes nothing. A Component suspended before the policy
    was turned off is still resumed only once paid, as its event promised."""
    if suspended:
        return Step.RESUME if not unpaid and not deferred else Step.HOLD
    if suspend_after > 0 and unpaid and not deferred and unpaid_since is not None \
            and now - unpaid_since >= suspend_after:
        return Step.SUSPEND
    return Step.NONE


def settled_through(hour: str, now: float, period: float) -> str:
    """The bucket a resumed Component counts as settled through: every bucket up to
    the current one, which it spent at 0 pods, is not charged; the current one is
    charged once its pods are Ready again (or was charged already, as `hour`)."""
    previous = hosting.bucket_start(now, period) - period
    return hosting.bucket_id(max(previous, hosting.parse_bucket_id(hour)))


def duration(seconds: float) -> str:
    """1h30m, 10m, 45s: the grace as a person reads it."""
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{hours}h" if hours else "", f"{minutes}m" if minutes else "", f"{secs}s" if secs else ""]
    return "".join(parts) or "0s"


def pending_note(unpaid_since: float, suspend_after: float) -> str:
    return (f"; unless it is paid, the Deployment is scaled to 0 at {iso(unpaid_since + suspend_after)} "
            f"(suspendAfter {duration(suspend_after)})")


def suspended_note(suspension: Suspension) -> str:
    return (f"; suspended since {suspension.since}: the Deployment has 0 pods and is scaled back "
            "once the unpaid hours are paid")


def suspended_message(name: str, wallet: str, owner: str, unpaid_tokens: int, hours: list[str],
                      unpaid_since: float, suspend_after: float) -> str:
    return (f"{name} scaled to 0 pods: hosting has been unpaid since {iso(unpaid_since)}, longer than "
            f"suspendAfter ({duration(suspend_after)}); {wallet} owes {unpaid_tokens:,} tokens for "
            f"{len(hours)} hour(s) from {hours[0] if hours else '?'}. Buy tokens "
            f"(tawa wallet buy {owner} {unpaid_tokens}) and it is scaled back once they are charged; "
            "nothing is charged for the hours it has 0 pods")


def resumed_message(name: str, wallet: str, paid_tokens: int, replicas: int, since: str) -> str:
    paid = f"{paid_tokens:,} tokens charged to {wallet}" if paid_tokens else f"paid by {wallet}"
    return (f"the unpaid hosting hours are paid ({paid}); {name} scaled back to {replicas} pod(s) "
            f"after its suspension since {since}")
