"""The gate watcher: closed deploy gates re-checked as soon as their reason may no
longer hold, for one loop for the whole operator.

Every `gate_poll_interval` seconds it reads the wallet of each org that has a
Component with a closed gate (one call per org, however many Components), and
re-runs the reconcile of each Component whose verdict no longer holds (gate.py
`still_closed`): a purchase opens the gate within a poll. While an org's wallet
cannot be reached, that org is left alone with an exponential backoff capped at
`gate_retry_max`. Which gates are closed is read from each Component's status, so
a restart or another replica finds them again.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from typing import Any, cast

import kopf

from tawa.controller import gate, kubeapi
from tawa.controller.context import Closed, Key, OperatorContext, context_of
from tawa.controller.reconcile import Owned, Targets, reconcile_component
from tawa.controller.status import RESOURCE, namespace_of
from tawa.resource import condition
from tawa.wallet.client import WalletError, WalletNotFound

log = logging.getLogger("tawa.gate")


def closed_gate(body: kopf.Body) -> Closed | None:
    """A gate the watcher re-checks: closed for a wallet reason on a valid spec."""
    verdict, valid = condition(body.status, gate.GATE), condition(body.status, "Valid")
    owner = body.spec.get("owner")
    if not verdict or verdict.get("status") != "False" or verdict.get("reason") not in gate.CLOSED_REASONS \
            or (valid or {}).get("status") == "False" or not isinstance(owner, str):
        return None
    return Closed(owner, str(verdict["reason"]))


@kopf.on.event(*RESOURCE)  # type: ignore[arg-type]  # kopf's protocol names no index kwargs
async def track_gate(body: kopf.Body, type: str | None, memo: kopf.Memo, components_by_name: Targets,
                     owned_deployments: Owned, **_: Any) -> None:
    context = context_of(memo)
    if "gate" not in context.tasks:
        # Started from a resource handler, whose context lets a re-check post Events.
        context.gate.indices.update(components_by_name=components_by_name, owned_deployments=owned_deployments)
        context.start_once("gate", lambda: gate_loop(context))
    key = (namespace_of(body), body.metadata["name"])
    closed = None if type == "DELETED" else closed_gate(body)
    if closed is None:
        context.gate.closed.pop(key, None)
        if type == "DELETED":
            context.forget(key)
    else:
        context.gate.closed[key] = closed


def _recheck(context: OperatorContext, key: Key) -> None:
    """Reconcile from a fresh read, under the lock kopf's handler takes too."""
    namespace, name = key
    with context.locks.of(key):
        raw = kubeapi.read_component(name, namespace)
        if raw is None or closed_gate(body := kopf.Body(cast(kopf.RawBody, raw))) is None:
            return  # deleted, or reconciled meanwhile
        indices = context.gate.indices
        reconcile_component(context, body, indices["components_by_name"], indices["owned_deployments"])


async def recheck_org(context: OperatorContext, org: str, keys: list[Key], now: float) -> None:
    state = context.gate
    backoff = state.backoff[org]
    if now < backoff.until:
        return
    try:
        balance: int | None = (await asyncio.to_thread(context.wallet.get_wallet, org)).available.hosting
    except WalletNotFound:
        balance = None
    except WalletError as exc:  # unreachable, or an answer we cannot use: try again later
        backoff.failures += 1
        backoff.until = now + gate.retry_delay(backoff.failures, context.settings.gate_retry_max)
        log.info("gate re-check of %s deferred: %s", org, exc)
        return
    state.backoff.pop(org, None)
    for key in keys:
        closed = state.closed.get(key)
        if closed is not None and not gate.still_closed(closed.reason, state.checked_balance.get(key), balance):
            await asyncio.to_thread(_recheck, context, key)


def closed_by_org(context: OperatorContext) -> dict[str, list[Key]]:
    state = context.gate
    orgs: dict[str, list[Key]] = defaultdict(list)
    for key, closed in list(state.closed.items()):
        orgs[closed.owner].append(key)
    for org in set(state.backoff) - set(orgs):
        state.backoff.pop(org, None)  # no closed gate left: no backoff to keep
    return orgs


async def gate_loop(context: OperatorContext) -> None:
    while not context.stopped.is_set():
        now = context.monotonic()
        results = await asyncio.gather(*(recheck_org(context, org, keys, now)
                                         for org, keys in closed_by_org(context).items()),
                                       return_exceptions=True)
        for failure in (r for r in results if isinstance(r, Exception)):
            log.warning("gate re-check failed and will be retried: %r", failure)
        try:
            await asyncio.wait_for(context.stopped.wait(), context.settings.gate_poll_interval)
        except TimeoutError:
            pass
