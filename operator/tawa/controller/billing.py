"""Hourly hosting gas: one loop for the whole operator.

The loop wakes at every bucket boundary (and briefly between them, to catch
pods that become Ready mid-bucket) and charges the buckets due for the pods
Ready now, reading readiness from each Component's status, which the
Deployment watcher keeps current: a Component with nothing due costs no API
call, and with 1,000 Components a bucket is charged for all of them in one
burst of wallet calls, `CHARGE_CONCURRENCY` at a time (a per-Component kopf
daemon costs far more memory and wake-ups for the same work).

Exactly once: the wallet's idempotency key `hosting/{uid}/{bucket}` is the
guard (restarts, retries, two replicas); status.lastChargedHour is a hint.

Idle buckets: a Component seen with no Ready pods in a bucket is recorded once
per bucket in status.idleHours, and those buckets are never charged, not even
as catch-up when its pods return (catch-up is for buckets the operator missed).
The record is in the status, not in memory, so a restart cannot bring the
charge back.

With `suspendAfter` set, a Component unpaid for longer than that is scaled to 0
(suspension.py decides; status.suspended records it). Its owed buckets keep
being retried each round at the pods it had, although it has no Ready pods; once
they are paid it is scaled back. Only this loop scales for suspension, and only
after a wallet answer, so restarts and two replicas reach the same state.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, cast

import kopf

from tawa.catalog.problems import CatalogError
from tawa.catalog.validate import Component, check_component
from tawa.controller import children, hosting, kubeapi, metrics, suspension
from tawa.controller.conditions import Condition
from tawa.controller.context import OperatorContext, context_of
from tawa.controller.settings import OperatorSettings
from tawa.controller.status import BILLING_MANAGER, RESOURCE, namespace_of, write_status
from tawa.controller.suspension import Step, Suspension
from tawa.gas.tiers import TIERS
from tawa.resource import API_GROUP, TIER_ANNOTATION, condition
from tawa.wallet.client import (
    IdempotencyConflict,
    InsufficientGas,
    WalletClient,
    WalletNotFound,
    WalletUnavailable,
    wallet_id,
)

log = logging.getLogger("tawa.hosting")
POLL_SECONDS = 2.0


@dataclass
class Outcome:
    charged: list[str] = field(default_factory=list)
    unpaid: list[str] = field(default_factory=list)
    deferred: str | None = None
    # Of `charged`, those this call paid: not a replay of an earlier charge (a retry, a
    # restart, another replica). The tokens metric counts only these, so that summing it
    # over two replicas gives what the wallet took.
    fresh: int = 0

    def last_paid(self) -> str | None:
        """The last bucket before the first unpaid one: unpaid buckets are retried."""
        paid = [b for b in self.charged if not self.unpaid or b < self.unpaid[0]]
        return paid[-1] if paid else None


def charge_buckets(wallet: WalletClient, component: Component, uid: str, namespace: str, pods: int,
                   due: list[str]) -> Outcome:
    tokens = component.tier.tokens_per_hour * pods
    outcome = Outcome()
    for bucket in due:
        try:
            charge = wallet.hosting_charge(
                component.spec.owner, f"{namespace}/{component.name}", bucket, tokens,
                tier=component.tier.name, pods=pods, service=component.name,
                idempotency_key=hosting.idempotency_key(uid, bucket))
            metrics.runway_hours.labels(component.spec.owner).set(charge.wallet.available.hosting / tokens)
            if not charge.replayed:
                outcome.fresh += 1
        except IdempotencyConflict:
            pass  # another replica charged this bucket, with its own pod count: charged once
        except InsufficientGas:
            outcome.unpaid.append(bucket)
            continue
        except (WalletUnavailable, WalletNotFound) as exc:
            outcome.deferred = f"hosting charge for {bucket} deferred: {exc}"
            break
        outcome.charged.append(bucket)
    return outcome


@dataclass(frozen=True)
class Work:
    """One Component's round: the buckets to charge, at how many pods, and its idle ones."""
    uid: str
    raw: dict[str, Any]
    due: list[str]
    pods: int
    suspension: Suspension | None
    idle: frozenset[int] = frozenset()


@dataclass(frozen=True)
class Billed:
    """What the status records as billed: the last charged bucket (or the last one a
    resume settled) and the idle buckets after it, none of which is charged again."""
    last: str | None
    idle: frozenset[int] = frozenset()

    def fields(self, period: float) -> dict[str, Any]:
        # None leaves idleHours out of the apply, which removes it from the status.
        return {"lastChargedHour": self.last, "idleHours": hosting.idle_hours(self.idle, period) or None}


@dataclass(frozen=True)
class Round:
    """One Component's round once the wallet answered: what it charged, what the status
    records as billed, and the suspension policy's step."""
    component: Component
    body: kopf.Body
    work: Work
    outcome: Outcome
    billed: Billed
    step: Step
    now: float


def _gas_condition(owner: str, unpaid_tokens: int, unpaid: list[str], note: str) -> Condition:
    if unpaid:
        return Condition("GasExhausted", True, "HostingUnpaid", (
            f"hosting unpaid: {unpaid_tokens:,} tokens for {len(unpaid)} hour(s) from {unpaid[0]}; "
            f"buy tokens (tawa wallet buy {owner}) and the charge is retried{note}"))
    return Condition("GasExhausted", False, "HostingCharged", "hosting charges are paid")


def _unpaid_since(status: Mapping[str, Any]) -> float | None:
    """When the operator found the hosting unpaid: GasExhausted's flip to True."""
    gas = condition(status, "GasExhausted")
    if not gas or gas.get("status") != "True":
        return None
    try:
        return suspension.parse_iso(str(gas.get("lastTransitionTime")))
    except ValueError:
        return None


def _note(suspend_after: float, body: kopf.Body, held: Suspension | None, now: float) -> str:
    """What the GasExhausted message adds about the policy: when it will act, or that it has."""
    if held is not None:
        return suspension.suspended_note(held)
    if suspend_after <= 0:
        return ""
    since = _unpaid_since(body.status)
    return suspension.pending_note(math.floor(now) if since is None else since, suspend_after)


def _count(done: Round, held: Suspension | None, unpaid_tokens: int) -> None:
    """The round in the metrics."""
    component, outcome = done.component, done.outcome
    labels = (namespace_of(done.body), component.name, component.spec.owner)
    if outcome.fresh:
        tokens = component.tier.tokens_per_hour * done.work.pods
        metrics.hosting_tokens.labels(component.tier.name, component.spec.owner).inc(tokens * outcome.fresh)
    metrics.hosting_unpaid.labels(*labels).set(unpaid_tokens)
    metrics.gas_exhausted.labels(*labels).set(1 if outcome.unpaid else 0)
    metrics.suspended.labels(*labels).set(1 if held else 0)


def _record(settings: OperatorSettings, done: Round, held: Suspension | None) -> int:
    """Metrics, GasExhausted (and its events) and the billing fields of the status;
    returns the unpaid tokens."""
    body, outcome, owner = done.body, done.outcome, done.component.spec.owner
    unpaid_tokens = done.component.tier.tokens_per_hour * done.work.pods * len(outcome.unpaid)
    _count(done, held, unpaid_tokens)
    if outcome.deferred:
        kopf.warn(body, reason="HostingDeferred", message=outcome.deferred)
    note = _note(settings.suspend_after, body, held, done.now) if outcome.unpaid else ""
    verdict = _gas_condition(owner, unpaid_tokens, outcome.unpaid, note)
    was = (condition(body.status, "GasExhausted") or {}).get("status")
    if verdict.status and was != "True":
        kopf.warn(body, reason="HostingUnpaid", message=verdict.message)
    elif not verdict.status and was == "True":
        kopf.event(body, type="Normal", reason="HostingCharged", message="hosting is paid up again")
    write_status(body, BILLING_MANAGER, [verdict], body.status.get("observedGeneration"),
                 **done.billed.fields(settings.hosting_period), unpaidTokens=unpaid_tokens,
                 suspended=held.to_status() if held else None)
    return unpaid_tokens


def _admitted(component: Component, namespace: str) -> int:
    """What a resumed Deployment scales back to: the replicas the gate admitted for it."""
    deployment = kubeapi.read_deployment(component.name, namespace)
    admitted = None if deployment is None else children.admitted_replicas(deployment)
    return component.spec.replicas if admitted is None else admitted


def _resume(settings: OperatorSettings, done: Round, held: Suspension) -> None:
    component = done.component
    replicas = _admitted(component, namespace_of(done.body))
    # Scaled back first: if the status write is lost, the next round resumes again.
    kubeapi.scale_deployment(component.name, namespace_of(done.body), replicas, None, BILLING_MANAGER)
    _record(settings, done, None)
    paid = component.tier.tokens_per_hour * done.work.pods * len(done.outcome.charged)
    kopf.event(done.body, type="Normal", reason="Resumed", message=suspension.resumed_message(
        component.name, wallet_id(component.spec.owner), paid, replicas, held.since))


def _suspend(settings: OperatorSettings, done: Round) -> None:
    component, body = done.component, done.body
    held = Suspension(suspension.iso(done.now), done.work.due[-1], done.work.pods)
    # Recorded first: a reconcile then keeps the Deployment at 0, and if the scale
    # is lost the next round (HOLD) makes it.
    unpaid_tokens = _record(settings, done, held)
    kubeapi.scale_deployment(component.name, namespace_of(body), 0, held.since, BILLING_MANAGER)
    since = _unpaid_since(body.status)
    kopf.warn(body, reason="Suspended", message=suspension.suspended_message(
        component.name, wallet_id(component.spec.owner), component.spec.owner, unpaid_tokens,
        done.outcome.unpaid, done.now if since is None else since, settings.suspend_after))


def _settle(settings: OperatorSettings, done: Round) -> None:
    """Record the round and carry out the policy's step. The order of the writes is
    what a crash between them leaves: the next round finishes the step."""
    held = done.work.suspension
    if done.step is Step.RESUME and held is not None:
        _resume(settings, done, held)
    elif done.step is Step.SUSPEND:
        _suspend(settings, done)
    else:
        _record(settings, done, held)
        if done.step is Step.HOLD and held is not None and int(done.body.status.get("replicas") or 0) != 0:
            # Pods while suspended: a reconcile that raced the suspension, or a lost scale.
            kubeapi.scale_deployment(done.component.name, namespace_of(done.body), 0, held.since,
                                     BILLING_MANAGER)


def sleep_seconds(period: float, now: float) -> float:
    """Until just after the next bucket starts, polling meanwhile for pods that become Ready."""
    to_next_bucket = hosting.bucket_start(now, period) + period - now
    return max(0.01, min(to_next_bucket + 0.01, POLL_SECONDS, period / 10))


def _valid(body: kopf.Body) -> Component | None:
    meta = body.metadata
    try:
        return check_component(meta["name"], dict(meta.annotations), dict(body.spec), meta.namespace)
    except CatalogError:
        return None


def kept(body: kopf.Body) -> dict[str, Any]:
    """What the hosting loop reads of a Component, and what its Events name. Left out:
    managedFields and kopf's annotations (a stored copy of the spec), most of each
    body's memory, held for every Component."""
    meta = body.metadata
    annotations = {k: v for k, v in meta.annotations.items() if not k.startswith(f"{API_GROUP}/")}
    return {"apiVersion": body.get("apiVersion"), "kind": body.get("kind"), "spec": dict(body.spec),
            "status": dict(body.status), "metadata": {
                "name": meta.name, "namespace": meta.namespace, "uid": meta.uid,
                "generation": meta.get("generation"), "annotations": annotations}}


def track(context: OperatorContext, body: kopf.Body, deleted: bool) -> None:
    """Keep the Component's latest body for the hosting loop; a deleted one is not charged again."""
    state, uid = context.hosting, body.metadata.uid
    if deleted:
        state.forget(uid)
        return
    if uid not in state.components and (condition(body.status, "GasExhausted") or {}).get("status") == "True":
        # First sight while unpaid: before a restart, pods may have been Ready in this
        # bucket and its charge refused. Owed, it must not be recorded idle (forgiven).
        state.seen_ready[uid] = int(context.clock() // context.settings.hosting_period)
    state.components[uid] = kept(body)
    # The later of ours and the status: another replica may have settled further (a resume).
    state.last_charged[uid] = hosting.later(state.last_charged.get(uid), body.status.get("lastChargedHour"))


@kopf.on.event(*RESOURCE)
async def track_component(body: kopf.Body, type: str | None, memo: kopf.Memo, **_: Any) -> None:
    context = context_of(memo)
    # Started from a resource handler, whose context lets the loop post Events.
    context.start_once("hosting", lambda: hosting_loop(context))
    track(context, body, type == "DELETED")


def _window(settings: OperatorSettings, now: float) -> range:
    return hosting.window(now, settings.hosting_period, settings.catch_up_buckets)


def _index(bucket: str | None, period: float) -> int | None:
    return None if bucket is None else hosting.bucket_index(bucket, period)


def as_running(component: Component, status: Mapping[str, Any]) -> Component:
    """The Component at the tier its pods run: a raise the gate refused leaves them at the
    old one, and hosting is charged for what runs, not for what was asked."""
    running = status.get("runningTier")
    if running not in TIERS or running == component.tier.name:
        return component
    return replace(component, annotations={**component.annotations, TIER_ANNOTATION: running})


def _billed(context: OperatorContext, work: Work, outcome: Outcome, step: Step, now: float) -> Billed:
    """The last bucket billed after the round, and the idle buckets still worth recording."""
    period = context.settings.hosting_period
    last = hosting.later(outcome.last_paid(), context.hosting.last_charged.get(work.uid))
    if step is Step.RESUME and work.suspension is not None:
        last = suspension.settled_through(work.suspension.hour, now, period)
    # A bucket charged with pods is not idle, paid or not: unpaid, it stays owed.
    attempted = {hosting.bucket_index(b, period) for b in work.due}
    within = _window(context.settings, now)
    return Billed(last, hosting.pruned_idle(work.idle - attempted, _index(last, period), within))


async def charge(context: OperatorContext, work: Work) -> Round | None:
    """Charge a Component's due buckets (None: its spec is no longer valid) and decide
    what the round records and whether the policy suspends or resumes it."""
    body = kopf.Body(cast(kopf.RawBody, work.raw))
    component = _valid(body)
    if component is None:
        return None
    component = as_running(component, body.status)
    outcome = await asyncio.get_running_loop().run_in_executor(
        context.charging, charge_buckets, context.wallet, component, work.uid, namespace_of(body), work.pods,
        work.due)
    now = context.clock()
    step = suspension.decide(context.settings.suspend_after, work.suspension is not None, bool(outcome.unpaid),
                             outcome.deferred is not None, _unpaid_since(body.status), now)
    billed = _billed(context, work, outcome, step, now)
    if work.uid in context.hosting.components:
        context.hosting.last_charged[work.uid] = billed.last
    return Round(component, body, work, outcome, billed, step, now)


async def _charge_one(context: OperatorContext, work: Work) -> None:
    done = await charge(context, work)
    if done is not None:
        await asyncio.to_thread(_settle, context.settings, done)


def due_now(context: OperatorContext, now: float) -> list[Work]:
    """Every Component with Ready pods and buckets not charged yet, and every suspended
    one (no pods), with the buckets it owes; neither includes its idle buckets."""
    settings, state = context.settings, context.hosting
    period, limit, within = settings.hosting_period, settings.catch_up_buckets, _window(settings, now)
    work = []
    for uid, raw in list(state.components.items()):
        status = raw.get("status") or {}
        idle = hosting.idle_buckets(status.get("idleHours"), period, within)
        held = Suspension.from_status(status.get("suspended"))
        if held is not None:  # retried every round: a purchase resumes it within seconds
            owed = hosting.billable(held.owed(state.last_charged.get(uid), period, limit), idle, period)
            work.append(Work(uid, raw, owed, held.pods, held, idle))
            continue
        ready = int(status.get("readyReplicas") or 0)
        if ready <= 0:
            continue
        state.seen_ready[uid] = within.stop - 1
        due = hosting.billable(hosting.buckets_due(state.last_charged.get(uid), now, period, limit), idle, period)
        if due:
            work.append(Work(uid, raw, due, ready, None, idle))
    return work


@dataclass(frozen=True)
class Idle:
    """A Component first seen with no Ready pods in this bucket, and its idle buckets with it."""
    uid: str
    raw: dict[str, Any]
    idle: frozenset[int]


def idle_now(context: OperatorContext, now: float) -> list[Idle]:
    """Every Component with no Ready pods whose current bucket is not recorded idle yet:
    one status write per Component and idle bucket, not one per poll."""
    state, period, within = context.hosting, context.settings.hosting_period, _window(context.settings, now)
    current, marks = within.stop - 1, []
    for uid, raw in list(state.components.items()):
        status = raw.get("status") or {}
        if int(status.get("readyReplicas") or 0) > 0 or Suspension.from_status(status.get("suspended")):
            continue  # charged; or suspended, whose hours at 0 pods the resume settles
        charged = _index(state.last_charged.get(uid), period)
        idle = hosting.idle_buckets(status.get("idleHours"), period, within)
        if hosting.marks_idle(current, charged, state.seen_ready.get(uid), idle):
            marks.append(Idle(uid, raw, hosting.pruned_idle(idle | {current}, charged, within)))
    return marks


def _record_idle(context: OperatorContext, mark: Idle) -> None:
    """Write the idle buckets, repeating the rest of what the billing writer owns:
    its apply would drop whatever it left out."""
    body = kopf.Body(cast(kopf.RawBody, mark.raw))
    gas = condition(body.status, "GasExhausted")
    carried = [] if gas is None else [Condition("GasExhausted", gas.get("status") == "True",
                                                str(gas.get("reason", "")), str(gas.get("message", "")))]
    billed = Billed(context.hosting.last_charged.get(mark.uid), mark.idle)
    write_status(body, BILLING_MANAGER, carried, body.status.get("observedGeneration"),
                 **billed.fields(context.settings.hosting_period), unpaidTokens=body.status.get("unpaidTokens"))


async def hosting_round(context: OperatorContext) -> None:
    """Charge whatever is due now, and record the current bucket of Components with no
    Ready pods as idle; a failure is logged, and the next round retries it."""
    now = context.clock()
    jobs = [*(_charge_one(context, w) for w in due_now(context, now)),
            *(asyncio.to_thread(_record_idle, context, m) for m in idle_now(context, now))]
    if jobs:
        results = await asyncio.gather(*jobs, return_exceptions=True)
        for failure in (r for r in results if isinstance(r, Exception)):
            log.warning("hosting round failed and will be retried: %r", failure)


async def hosting_loop(context: OperatorContext) -> None:
    """One loop for all Components: a round at each bucket boundary, and briefly between
    them, for pods that become Ready mid-bucket."""
    while not context.stopped.is_set():
        await hosting_round(context)
        try:
            await asyncio.wait_for(context.stopped.wait(),
                                   sleep_seconds(context.settings.hosting_period, context.clock()))
        except TimeoutError:
            pass
