"""The suspendAfter policy's pure parts: the decision, the owed and settled buckets,
the Deployment a suspended Component keeps, and the messages an owner reads."""

from __future__ import annotations

import pytest

from tawa.catalog.validate import check_component
from tawa.controller import children, hosting
from tawa.controller.suspension import (
    Step,
    Suspension,
    decide,
    duration,
    iso,
    parse_iso,
    pending_note,
    resumed_message,
    settled_through,
    suspended_message,
)
from tawa.resource import ADMITTED_REPLICAS, SUSPENDED

T0 = 1_700_000_000.0  # a whole multiple of 10 s: bucket starts below are exact


@pytest.mark.parametrize(("policy", "suspended", "unpaid", "deferred", "since", "now", "step"), [
    (0, False, True, False, T0 - 10_000, T0, Step.NONE),  # off: never suspends
    (60, False, True, False, T0 - 59, T0, Step.NONE),  # inside the grace
    (60, False, True, False, T0 - 60, T0, Step.SUSPEND),  # the grace is over
    (60, False, True, False, None, T0, Step.NONE),  # just found unpaid: the grace starts now
    (60, False, False, False, T0 - 600, T0, Step.NONE),  # paid this round (a stale status cannot suspend)
    (60, False, True, True, T0 - 600, T0, Step.NONE),  # wallet unreachable: no verdict
    (60, True, True, False, T0 - 600, T0, Step.HOLD),  # suspended, still unpaid
    (60, True, False, True, T0 - 600, T0, Step.HOLD),  # suspended, wallet unreachable
    (60, True, False, False, T0 - 600, T0, Step.RESUME),  # paid
    (0, True, True, False, T0 - 600, T0, Step.HOLD),  # policy turned off later: resumed once paid, as promised
    (0, True, False, False, T0 - 600, T0, Step.RESUME),
])
def test_decide(policy: float, suspended: bool, unpaid: bool, deferred: bool, since: float | None, now: float,
                step: Step) -> None:
    assert decide(policy, suspended, unpaid, deferred, since, now) is step


def test_owed_buckets_end_with_the_last_hour_that_had_pods() -> None:
    held = Suspension(iso(T0 + 7), hosting.bucket_id(T0 + 6), pods=2)
    assert held.owed(hosting.bucket_id(T0), 2.0, 24) == [hosting.bucket_id(T0 + s) for s in (2, 4, 6)]
    assert held.owed(hosting.bucket_id(T0 + 6), 2.0, 24) == []  # all paid: nothing owed
    assert held.owed(hosting.bucket_id(T0 + 8), 2.0, 24) == []  # settled past it (another replica resumed)
    assert held.owed(None, 2.0, 24) == [hosting.bucket_id(T0 + 6)]
    assert held.owed(hosting.bucket_id(T0 - 100), 2.0, 3) == [hosting.bucket_id(T0 + s) for s in (2, 4, 6)]


def test_owed_buckets_with_fractional_periods_stay_on_the_bucket() -> None:
    period = 0.3
    hour = hosting.bucket_id(hosting.bucket_start(T0 + 1.0, period))
    held = Suspension(iso(T0), hour, pods=1)
    previous = hosting.bucket_id(hosting.parse_bucket_id(hour) - period)
    assert held.owed(previous, period, 24) == [hour]


def test_a_resumed_component_is_not_charged_for_the_hours_at_zero_pods() -> None:
    hour = hosting.bucket_id(T0)
    # Resumed in the bucket it was suspended in: that bucket is already paid.
    assert settled_through(hour, T0 + 1, 2.0) == hour
    # Resumed 3 buckets later: the buckets in between are settled, the current one is charged.
    settled = settled_through(hour, T0 + 6.5, 2.0)
    assert settled == hosting.bucket_id(T0 + 4)
    assert hosting.buckets_due(settled, T0 + 6.5, 2.0) == [hosting.bucket_id(T0 + 6)]


def test_suspension_round_trips_through_the_status_and_ignores_what_no_operator_wrote() -> None:
    held = Suspension("2024-01-01T00:00:05Z", "2024-01-01T00:00:04Z", 3)
    assert held.to_status() == {"since": "2024-01-01T00:00:05Z", "lastHour": "2024-01-01T00:00:04Z", "pods": 3}
    assert Suspension.from_status(held.to_status()) == held
    for value in (None, {}, "yes", True, {"since": "x"}, {"lastHour": "2024-01-01T00:00:04Z", "pods": 0}):
        assert Suspension.from_status(value) is None


def test_later_bucket() -> None:
    a, b = hosting.bucket_id(T0), hosting.bucket_id(T0 + 2)
    assert hosting.later(a, b) == b and hosting.later(b, a) == b
    assert hosting.later(None, a) == a and hosting.later(a, None) == a and hosting.later(None, None) is None


def test_durations_and_times_read_well() -> None:
    assert [duration(s) for s in (0, 45, 600, 3600, 5400, 90061)] == ["0s", "45s", "10m", "1h", "1h30m", "25h1m1s"]
    assert parse_iso(iso(T0)) == T0
    assert pending_note(T0, 600) == f"; unless it is paid, the Deployment is scaled to 0 at {iso(T0 + 600)} " \
                                    "(suspendAfter 10m)"


def test_suspended_message_names_the_wallet_the_amount_and_the_way_out() -> None:
    message = suspended_message("app", "wallet-acme", "acme", 1_250, ["2024-01-01T00:00:00Z", "x"], T0, 3600)
    for part in ("app scaled to 0 pods", "wallet-acme owes 1,250 tokens for 2 hour(s) from 2024-01-01T00:00:00Z",
                 "tawa wallet buy acme 1250", "suspendAfter (1h)", f"unpaid since {iso(T0)}",
                 "nothing is charged for the hours it has 0 pods"):
        assert part in message
    resumed = resumed_message("app", "wallet-acme", 15, 2, "2024-01-01T00:00:05Z")
    assert "15 tokens charged to wallet-acme" in resumed and "scaled back to 2 pod(s)" in resumed


def test_a_suspended_deployment_keeps_its_template_hash_and_admitted_replicas() -> None:
    component = check_component("app", {}, {"owner": "acme", "image": "img:1", "replicas": 3})
    desired = children.deployment(component, "app-prod", "uid-1", {})
    others = [children.service(component, "app-prod", "uid-1")]
    digest = children.stamp([*others, desired])
    held = children.hold_at_zero(desired)
    assert held["spec"]["replicas"] == 0 and desired["spec"]["replicas"] == 3
    assert held["spec"]["template"] == desired["spec"]["template"]
    assert children.applied_hash(held) == digest
    assert children.admitted_replicas(held) == 3
    # Suspension alone is no rollout: the gate is not asked again.
    assert children.rollout_fields(held) == children.rollout_fields(desired) == ("img:1", "nano", 3)
    assert not children.suspended(held)
    marked = {**held, "metadata": {**held["metadata"], "annotations": {SUSPENDED: "2024-01-01T00:00:05Z"}}}
    assert children.suspended(marked)


def test_admitted_replicas_of_a_deployment_from_an_older_operator_is_its_spec() -> None:
    assert children.admitted_replicas({"spec": {"replicas": 2}}) == 2
    assert children.admitted_replicas({"metadata": {"annotations": {ADMITTED_REPLICAS: "0"}},
                                       "spec": {"replicas": 0}}) == 0
    assert children.admitted_replicas({}) is None
