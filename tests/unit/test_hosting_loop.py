"""The hosting loop's decisions, on a context of the test's own with a clock it moves and a
real wallet server: which buckets are due, which are idle, what a suspended Component
owes, and what a round charges."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import kopf
import pytest

from tawa.controller import hosting, suspension
from tawa.controller.billing import Round, Work, charge, due_now, hosting_loop, idle_now, sleep_seconds, track
from tawa.controller.context import OperatorContext
from tawa.controller.settings import OperatorSettings
from tawa.controller.suspension import Step
from tawa.resource import API_VERSION, KIND, TIER_ANNOTATION
from tawa.wallet.client import WalletClient
from tests.fixtures.wallet import WalletServer

PERIOD = 60.0
T0 = 1_800_000_000.0  # a bucket's start: bucket(0)
CATCH_UP = 6
NANO = 5  # tokens per hour of a nano pod


def bucket(n: int) -> str:
    return hosting.bucket_id(T0 + n * PERIOD)


def index(n: int) -> int:
    return hosting.bucket_index(bucket(n), PERIOD)


@dataclass
class Clock:
    now: float = T0

    def __call__(self) -> float:
        return self.now

    def at(self, n: int, seconds: float = 5.0) -> float:
        """Move to `seconds` into bucket(n)."""
        self.now = T0 + n * PERIOD + seconds
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def make_context(wallet: WalletServer, clock: Clock, suspend_after: float = 0.0) -> OperatorContext:
    settings = OperatorSettings(hosting_period=PERIOD, catch_up_buckets=CATCH_UP, suspend_after=suspend_after)
    return OperatorContext(settings, WalletClient(wallet.url, wallet.operator_token), clock=clock)


@pytest.fixture
def context(module_wallet: WalletServer, clock: Clock) -> Iterator[OperatorContext]:
    made = make_context(module_wallet, clock)
    yield made
    made.charging.shutdown()
    made.wallet.close()


@pytest.fixture
def org(module_wallet: WalletServer) -> str:
    name = f"org-{uuid.uuid4().hex[:8]}"
    module_wallet.client.create_wallet(name)
    return name


def component(org: str, ready: int = 1, **status: Any) -> kopf.Body:
    """A nano Component of `org` as the watch shows it (its uid is new each time)."""
    return kopf.Body({
        "apiVersion": API_VERSION, "kind": KIND,
        "metadata": {"name": "docman", "namespace": "docman-prod", "uid": f"uid-{uuid.uuid4().hex}",
                     "annotations": {TIER_ANNOTATION: "nano"}},
        "spec": {"owner": org, "image": "docman:1", "replicas": max(ready, 1)},
        "status": {"readyReplicas": ready, **status}})


def seen(body: kopf.Body, **status: Any) -> kopf.Body:
    """The same Component, its status changed."""
    return kopf.Body({**body, "status": {**body.status, **status}})


def unpaid_since(when: float) -> dict[str, Any]:
    return {"conditions": [{"type": "GasExhausted", "status": "True", "reason": "HostingUnpaid", "message": "",
                            "lastTransitionTime": suspension.iso(when)}]}


def charged(wallet: WalletServer, org: str) -> list[tuple[str, int]]:
    """The org's hosting charges as the wallet has them: (bucket, tokens), oldest first."""
    events = wallet.client.gas_events(org=org, limit=1000).events
    return sorted((e.details["hour"], e.tokens) for e in events if e.kind == "hosting")


def drain(wallet: WalletServer, org: str, leave: int) -> None:
    """Another consumer spends the wallet down to `leave` tokens."""
    wallet.client.hosting_charge(org, "elsewhere/big", bucket(-100), wallet.client.get_wallet(org).total - leave)


def run_round(context: OperatorContext, work: Work) -> Round:
    done = asyncio.run(charge(context, work))
    assert done is not None
    return done


# Which buckets are due


def test_a_component_first_seen_with_ready_pods_owes_the_current_bucket(context: OperatorContext, clock: Clock,
                                                                        org: str) -> None:
    clock.at(0)
    track(context, component(org, ready=2), deleted=False)
    [work] = due_now(context, clock.now)
    assert (work.due, work.pods, work.suspension) == ([bucket(0)], 2, None)


def test_after_downtime_the_missed_buckets_are_due_up_to_the_catch_up_limit(context: OperatorContext, clock: Clock,
                                                                            org: str) -> None:
    track(context, component(org, lastChargedHour=bucket(0)), deleted=False)
    assert due_now(context, clock.at(3))[0].due == [bucket(1), bucket(2), bucket(3)]
    assert due_now(context, clock.at(20))[0].due == [bucket(n) for n in range(21 - CATCH_UP, 21)]


def test_nothing_is_due_once_the_current_bucket_is_charged(context: OperatorContext, clock: Clock, org: str) -> None:
    track(context, component(org, lastChargedHour=bucket(4)), deleted=False)
    assert due_now(context, clock.at(4, seconds=59)) == []
    assert [w.due for w in due_now(context, clock.at(5, seconds=0))] == [[bucket(5)]]


def test_idle_buckets_are_never_due_but_the_current_one_is(context: OperatorContext, clock: Clock, org: str) -> None:
    """The current bucket stays due: its pods may have become Ready since it was seen idle."""
    idle = [{"from": bucket(1), "through": bucket(3)}]
    track(context, component(org, lastChargedHour=bucket(0), idleHours=idle), deleted=False)
    [work] = due_now(context, clock.at(4))
    assert work.due == [bucket(4)] and work.idle == {index(1), index(2), index(3)}
    assert due_now(context, clock.at(3))[0].due == [bucket(3)]


def test_a_deleted_component_is_not_charged_again(context: OperatorContext, clock: Clock, org: str) -> None:
    body = component(org, lastChargedHour=bucket(0))
    track(context, body, deleted=False)
    track(context, body, deleted=True)
    assert due_now(context, clock.at(3)) == [] and idle_now(context, clock.now) == []
    assert context.hosting.last_charged == {} and context.hosting.seen_ready == {}


# Which are idle


def test_no_ready_pods_records_the_current_bucket_idle_once_charged_before(context: OperatorContext, clock: Clock,
                                                                           org: str) -> None:
    track(context, component(org, ready=0, lastChargedHour=bucket(0)), deleted=False)
    clock.at(2)
    assert due_now(context, clock.now) == []
    [mark] = idle_now(context, clock.now)
    assert mark.idle == {index(2)}


def test_idle_buckets_accumulate_and_are_not_recorded_twice(context: OperatorContext, clock: Clock, org: str) -> None:
    idle = [{"from": bucket(1), "through": bucket(1)}]
    track(context, component(org, ready=0, lastChargedHour=bucket(0), idleHours=idle), deleted=False)
    assert idle_now(context, clock.at(1)) == []  # bucket(1) is recorded already
    [mark] = idle_now(context, clock.at(2))
    assert mark.idle == {index(1), index(2)}


def test_a_component_never_charged_has_no_idle_bucket(context: OperatorContext, clock: Clock, org: str) -> None:
    """Nothing to catch up before the first charge: no bucket to forgive either."""
    track(context, component(org, ready=0), deleted=False)
    assert idle_now(context, clock.at(3)) == []


def test_a_bucket_seen_with_ready_pods_is_never_recorded_idle(context: OperatorContext, clock: Clock,
                                                              org: str) -> None:
    body = component(org, ready=1, lastChargedHour=bucket(0))
    track(context, body, deleted=False)
    due_now(context, clock.at(1))  # Ready pods seen in bucket(1)
    track(context, seen(body, readyReplicas=0), deleted=False)
    assert idle_now(context, clock.at(1, seconds=50)) == []
    assert [m.idle for m in idle_now(context, clock.at(2))] == [{index(2)}]


def test_first_sight_while_unpaid_keeps_the_current_bucket_owed(context: OperatorContext, clock: Clock,
                                                                org: str) -> None:
    """Before a restart, pods may have been Ready in this bucket and its charge refused."""
    clock.at(3)
    track(context, component(org, ready=0, lastChargedHour=bucket(0), **unpaid_since(T0)), deleted=False)
    assert idle_now(context, clock.now) == []
    assert len(idle_now(context, clock.at(4))) == 1


# What is owed


def test_a_suspended_component_owes_the_buckets_charged_with_pods_at_the_pods_it_had(
        context: OperatorContext, clock: Clock, org: str) -> None:
    held = {"since": suspension.iso(T0 + 3 * PERIOD), "lastHour": bucket(2), "pods": 3}
    track(context, component(org, ready=0, lastChargedHour=bucket(0), suspended=held), deleted=False)
    [work] = due_now(context, clock.at(6))
    assert (work.due, work.pods) == ([bucket(1), bucket(2)], 3)
    assert work.suspension is not None and work.suspension.hour == bucket(2)
    assert idle_now(context, clock.now) == []  # its hours at 0 pods are settled by the resume, not idle


# What a round charges


def test_a_round_charges_each_due_bucket_once_at_the_ready_pods(context: OperatorContext, clock: Clock, org: str,
                                                                 module_wallet: WalletServer) -> None:
    body = component(org, ready=2, lastChargedHour=bucket(0))
    track(context, body, deleted=False)
    [work] = due_now(context, clock.at(2))
    done = run_round(context, work)
    assert (done.outcome.charged, done.outcome.unpaid, done.outcome.fresh) == ([bucket(1), bucket(2)], [], 2)
    assert (done.billed.last, done.step) == (bucket(2), Step.NONE)
    assert charged(module_wallet, org) == [(bucket(1), 2 * NANO), (bucket(2), 2 * NANO)]
    assert context.hosting.last_charged[body.metadata.uid] == bucket(2)
    assert due_now(context, clock.at(2, seconds=30)) == []  # charged: nothing more in this bucket


def test_a_round_replayed_by_another_replica_charges_nothing_more(context: OperatorContext, clock: Clock, org: str,
                                                                  module_wallet: WalletServer) -> None:
    body = component(org, ready=1)
    track(context, body, deleted=False)
    [work] = due_now(context, clock.at(0))
    assert run_round(context, work).outcome.fresh == 1
    other = make_context(module_wallet, clock)  # a second replica, which has not seen the charge
    track(other, body, deleted=False)
    [again] = due_now(other, clock.now)
    replay = run_round(other, again)
    assert (replay.outcome.charged, replay.outcome.fresh, replay.billed.last) == ([bucket(0)], 0, bucket(0))
    assert charged(module_wallet, org) == [(bucket(0), NANO)]
    other.charging.shutdown()
    other.wallet.close()


def test_the_idle_buckets_before_a_charged_one_are_dropped_from_the_record(context: OperatorContext, clock: Clock,
                                                                           org: str) -> None:
    idle = [{"from": bucket(1), "through": bucket(2)}]
    track(context, component(org, lastChargedHour=bucket(0), idleHours=idle), deleted=False)
    [work] = due_now(context, clock.at(3))
    done = run_round(context, work)
    assert (done.outcome.charged, done.billed.last, done.billed.idle) == ([bucket(3)], bucket(3), frozenset())


def test_an_unpaid_bucket_stays_owed_and_is_retried(context: OperatorContext, clock: Clock, org: str,
                                                    module_wallet: WalletServer) -> None:
    drain(module_wallet, org, leave=NANO - 1)
    body = component(org, ready=1, lastChargedHour=bucket(0))
    track(context, body, deleted=False)
    [work] = due_now(context, clock.at(1))
    done = run_round(context, work)
    assert (done.outcome.charged, done.outcome.unpaid, done.billed.last) == ([], [bucket(1)], bucket(0))
    assert [w.due for w in due_now(context, clock.at(1, seconds=30))] == [[bucket(1)]]
    module_wallet.client.purchase(org, 100)
    assert run_round(context, due_now(context, clock.now)[0]).outcome.charged == [bucket(1)]


def test_an_unreachable_or_unknown_wallet_defers_the_round(context: OperatorContext, clock: Clock) -> None:
    body = component("org-nobody-registered", lastChargedHour=bucket(0))
    track(context, body, deleted=False)
    [work] = due_now(context, clock.at(2))
    done = run_round(context, work)
    assert done.outcome.deferred and done.outcome.charged == [] and done.step is Step.NONE
    assert done.billed.last == bucket(0)


def test_unpaid_longer_than_suspend_after_suspends_then_paid_resumes(module_wallet: WalletServer, clock: Clock,
                                                                     org: str) -> None:
    context = make_context(module_wallet, clock, suspend_after=2 * PERIOD)
    drain(module_wallet, org, leave=0)
    body = component(org, lastChargedHour=bucket(0), **unpaid_since(T0 + PERIOD))
    track(context, body, deleted=False)
    assert run_round(context, due_now(context, clock.at(2))[0]).step is Step.NONE  # unpaid for 1 period
    done = run_round(context, due_now(context, clock.at(3))[0])
    assert (done.step, done.outcome.unpaid) == (Step.SUSPEND, [bucket(1), bucket(2), bucket(3)])

    held = {"since": suspension.iso(clock.now), "lastHour": bucket(3), "pods": 1}
    track(context, seen(body, readyReplicas=0, suspended=held), deleted=False)
    module_wallet.client.purchase(org, 100)
    [work] = due_now(context, clock.at(7))
    resumed = run_round(context, work)
    # Paid through bucket(3); the buckets it spent at 0 pods are settled, not charged.
    assert (resumed.step, resumed.outcome.charged) == (Step.RESUME, [bucket(1), bucket(2), bucket(3)])
    assert resumed.billed.last == bucket(6) == context.hosting.last_charged[body.metadata.uid]
    context.charging.shutdown()
    context.wallet.close()


# The loop


def test_the_loop_wakes_just_after_each_bucket_starts_and_polls_between() -> None:
    assert sleep_seconds(PERIOD, T0 + PERIOD - 0.5) == pytest.approx(0.51)
    assert sleep_seconds(PERIOD, T0) == 2.0  # POLL_SECONDS: pods that become Ready mid-bucket
    assert sleep_seconds(2.0, T0 + 0.1) == pytest.approx(0.2)  # a tenth of a short period


def test_the_loop_runs_until_the_context_stops(context: OperatorContext, clock: Clock, org: str) -> None:
    track(context, component(org, lastChargedHour=bucket(0)), deleted=False)  # nothing due, nothing idle
    clock.at(0)

    async def start_and_stop() -> bool:
        context.start_once("hosting", lambda: hosting_loop(context))
        context.start_once("hosting", lambda: hosting_loop(context))  # once: the running loop is kept
        task = context.tasks["hosting"]
        await asyncio.sleep(0.05)
        running = not task.done()
        await context.stop()
        return running and task.done() and not context.tasks

    assert asyncio.run(start_and_stop())
