"""Hourly hosting gas: one kopf daemon per Component.

Each daemon wakes at every bucket boundary (and briefly between them, to catch
pods that become Ready mid-bucket) and charges the buckets due for the pods
Ready now. It reads readiness from the Component's status, which the
Deployment watcher keeps current, so a Component with nothing due costs no API
call at all; with 1,000 Components a bucket is charged for all of them in one
burst of wallet calls, `CHARGE_CONCURRENCY` at a time.

Exactly once: the wallet's idempotency key `hosting/{uid}/{bucket}` is the
guard (restarts, retries, two replicas); status.lastChargedHour is a hint.
"""

from __future__ import annotations

import asyncio
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
POLL_SECONDS = 2.0
_slots: asyncio.Semaphore | None = None


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
    with wallet_client() as client:
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
        kopf.info(body, reason="HostingCharged", message="hosting is paid up again")
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


@kopf.daemon(*RESOURCE, cancellation_timeout=10.0)
async def hosting_daemon(body: kopf.Body, stopped: kopf.DaemonStopped, **_: Any) -> None:
    """Charge each bucket not charged yet, for the pods Ready now (body is kopf's live view)."""
    global _slots
    _slots = _slots or asyncio.Semaphore(CHARGE_CONCURRENCY)
    last: str | None = body.status.get("lastChargedHour")
    while not stopped:
        ready = int(body.status.get("readyReplicas") or 0)
        component = _valid(body) if ready else None
        due = hosting.buckets_due(last, time.time(), SETTINGS.hosting_period, SETTINGS.catch_up_buckets) \
            if component else []
        if component and due:
            async with _slots:  # the wallet call only: it group-commits concurrent charges
                outcome = await asyncio.to_thread(charge_buckets, component, body.metadata.uid,
                                                  body.metadata.namespace, ready, due)
            last = outcome.last_paid() or last
            await asyncio.to_thread(_record, component, body, ready, outcome, last)
        await stopped.wait(_sleep_seconds(time.time()))
