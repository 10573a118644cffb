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
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import kopf

from tawa.catalog.problems import CatalogError
from tawa.catalog.validate import Component, check_component
from tawa.controller import hosting, metrics
from tawa.controller.conditions import Condition, condition
from tawa.controller.handlers import RESOURCE, SETTINGS, wallet_client, write_status
from tawa.wallet.client import IdempotencyConflict, InsufficientGas, WalletNotFound, WalletUnavailable, wallet_id

BILLING_MANAGER = "tawa-operator-billing"
CHARGE_CONCURRENCY = 64
log = logging.getLogger("tawa.hosting")
POLL_SECONDS = 2.0


@dataclass
class Outcome:
    charged: list[str] = field(default_factory=list)
    unpaid: list[str] = field(default_factory=list)
    deferred: str | None = None

    def last_paid(self) -> str | None:
        """The last bucket before the first unpaid one: unpaid buckets are retried."""
        paid = [b for b in self.charged if not self.unpaid or b < self.unpaid[0]]
        return paid[-1] if paid else None


def charge_buckets(component: Component, uid: str, namespace: str, ready: int, due: list[str]) -> Outcome:
    tokens = component.tier.tokens_per_hour * ready
    outcome = Outcome()
    client = wallet_client()
    for bucket in due:
        try:
            charge = client.hosting_charge(
                wallet_id(component.spec.owner), f"{namespace}/{component.name}", bucket, tokens,
                tier=component.tier.name, pods=ready, service=component.name,
                idempotency_key=hosting.idempotency_key(uid, bucket))
            metrics.runway_hours.labels(component.spec.owner).set(charge.wallet.available.hosting / tokens)
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


def _gas_condition(owner: str, unpaid_tokens: int, unpaid: list[str]) -> Condition:
    if unpaid:
        return Condition("GasExhausted", True, "HostingUnpaid", (
            f"hosting unpaid: {unpaid_tokens:,} tokens for {len(unpaid)} hour(s) from {unpaid[0]}; "
            f"buy tokens (tawa wallet buy {owner}) and the charge is retried"))
    return Condition("GasExhausted", False, "HostingCharged", "hosting charges are paid")


def _record(component: Component, body: kopf.Body, ready: int, outcome: Outcome, last: str | None) -> None:
    namespace, tokens = body.metadata.namespace, component.tier.tokens_per_hour * ready
    unpaid_tokens = tokens * len(outcome.unpaid)
    labels = (namespace, component.name, component.spec.owner)
    for bucket in outcome.charged:
        metrics.hosting_tokens.labels(component.tier.name, component.spec.owner).inc(tokens)
    metrics.hosting_unpaid.labels(*labels).set(unpaid_tokens)
    metrics.gas_exhausted.labels(*labels).set(1 if outcome.unpaid else 0)
    if outcome.deferred:
        kopf.warn(body, reason="HostingDeferred", message=outcome.deferred)
    verdict = _gas_condition(component.spec.owner, unpaid_tokens, outcome.unpaid)
    was = (condition(body.status, "GasExhausted") or {}).get("status")
    if verdict.status and was != "True":
        kopf.warn(body, reason="HostingUnpaid", message=verdict.message)
    elif not verdict.status and was == "True":
        kopf.event(body, type="Normal", reason="HostingCharged", message="hosting is paid up again")
    write_status(body, BILLING_MANAGER, [verdict], body.status.get("observedGeneration"),
                 lastChargedHour=last, unpaidTokens=unpaid_tokens)


def _sleep_seconds(now: float) -> float:
    period = SETTINGS.hosting_period
    to_next_bucket = hosting.bucket_start(now, period) + period - now
    return max(0.01, min(to_next_bucket + 0.01, POLL_SECONDS, period / 10))


def _valid(body: kopf.Body) -> Component | None:
    meta = body.metadata
    try:
        return check_component(meta["name"], dict(meta.annotations), dict(body.spec), meta.namespace)
    except CatalogError:
        return None


# The latest body of every Component, by uid, and the last bucket charged for it
# in this process (status.lastChargedHour may lag behind our own writes).
_components: dict[str, dict[str, Any]] = {}
_last_charged: dict[str, str | None] = {}


@kopf.on.event(*RESOURCE)
async def track_component(body: kopf.Body, type: str | None, **_: Any) -> None:
    if not _tasks:
        # Started from a resource handler, whose context lets the loop post Events.
        _tasks.append(asyncio.create_task(hosting_loop(_stop), name="hosting"))
    uid = body.metadata.uid
    if type == "DELETED":  # a deleted Component is not charged again
        _components.pop(uid, None)
        _last_charged.pop(uid, None)
        return
    _components[uid] = dict(body)
    _last_charged.setdefault(uid, body.status.get("lastChargedHour"))


async def _charge_one(uid: str, raw: dict[str, Any], due: list[str], slots: asyncio.Semaphore) -> None:
    body = kopf.Body(raw)
    component = _valid(body)
    ready = int(body.status.get("readyReplicas") or 0)
    if component is None or not ready:
        return
    async with slots:  # the wallet call only: it group-commits concurrent charges
        outcome = await asyncio.to_thread(charge_buckets, component, uid, body.metadata.namespace, ready, due)
    last = outcome.last_paid() or _last_charged.get(uid)
    if uid in _components:
        _last_charged[uid] = last
    await asyncio.to_thread(_record, component, body, ready, outcome, last)


def due_now(now: float) -> list[tuple[str, dict[str, Any], list[str]]]:
    """Every Component with Ready pods and buckets not charged yet."""
    work = []
    for uid, raw in list(_components.items()):
        if int(((raw.get("status") or {}).get("readyReplicas")) or 0) <= 0:
            continue
        due = hosting.buckets_due(_last_charged.get(uid), now, SETTINGS.hosting_period, SETTINGS.catch_up_buckets)
        if due:
            work.append((uid, raw, due))
    return work


async def hosting_loop(stopped: asyncio.Event) -> None:
    """One loop for all Components: at each bucket boundary (and briefly between
    them, for pods that become Ready mid-bucket) charge whatever is due."""
    slots = asyncio.Semaphore(CHARGE_CONCURRENCY)
    while not stopped.is_set():
        work = due_now(time.time())
        if work:
            results = await asyncio.gather(*(_charge_one(uid, raw, due, slots) for uid, raw, due in work),
                                           return_exceptions=True)
            for failure in (r for r in results if isinstance(r, Exception)):
                log.warning("hosting charge failed and will be retried: %r", failure)
        try:
            await asyncio.wait_for(stopped.wait(), _sleep_seconds(time.time()))
        except TimeoutError:
            pass


_stop = asyncio.Event()


@kopf.on.cleanup()
async def stop_hosting(**_: Any) -> None:
    _stop.set()
    await asyncio.gather(*_tasks, return_exceptions=True)
    _tasks.clear()


_tasks: list[asyncio.Task[None]] = []
