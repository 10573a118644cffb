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
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, cast

import kopf

from tawa.controller import gate, kubeapi
from tawa.controller.conditions import condition
from tawa.controller.handlers import (
    RESOURCE,
    SETTINGS,
    checked_balance,
    component_lock,
    forget_component,
    namespace_of,
    reconcile_component,
    wallet_client,
)
from tawa.wallet.client import WalletError, WalletNotFound

log = logging.getLogger("tawa.gate")


@dataclass(frozen=True)
class Closed:
    """A Component whose gate is closed, as its status says."""
    owner: str
    reason: str


@dataclass
class Backoff:
    failures: int = 0
    until: float = 0.0


_closed: dict[tuple[str, str], Closed] = {}
_backoff: dict[str, Backoff] = defaultdict(Backoff)
_indices: dict[str, Any] = {}


def closed_gate(body: kopf.Body) -> Closed | None:
    """A gate the watcher re-checks: closed for a wallet reason on a valid spec."""
    verdict, valid = condition(body.status, gate.GATE), condition(body.status, "Valid")
    owner = body.spec.get("owner")
    if not verdict or verdict.get("status") != "False" or verdict.get("reason") not in gate.CLOSED_REASONS \
            or (valid or {}).get("status") == "False" or not isinstance(owner, str):
        return None
    return Closed(owner, str(verdict["reason"]))


@kopf.on.event(*RESOURCE)  # type: ignore[arg-type]  # kopf's protocol names no index kwargs
async def track_gate(body: kopf.Body, type: str | None, components_by_name: kopf.Index[str, Any],
                     owned_deployments: kopf.Index[tuple[str, str], Any], **_: Any) -> None:
    if not _tasks:
        # Started from a resource handler, whose context lets a re-check post Events.
        _indices.update(components_by_name=components_by_name, owned_deployments=owned_deployments)
        _tasks.append(asyncio.create_task(gate_loop(_stop), name="gate"))
    key = (namespace_of(body), body.metadata["name"])
    closed = None if type == "DELETED" else closed_gate(body)
    if closed is None:
        _closed.pop(key, None)
        if type == "DELETED":
            forget_component(*key)
    else:
        _closed[key] = closed


def _recheck(namespace: str, name: str) -> None:
    """Reconcile from a fresh read, under the lock kopf's handler takes too."""
    with component_lock(namespace, name):
        raw = kubeapi.read_component(name, namespace)
        if raw is None or closed_gate(body := kopf.Body(cast(kopf.RawBody, raw))) is None:
            return  # deleted, or reconciled meanwhile
        reconcile_component(body, _indices["components_by_name"], _indices["owned_deployments"])


async def recheck_org(org: str, keys: list[tuple[str, str]], now: float) -> None:
    backoff = _backoff[org]
    if now < backoff.until:
        return
    try:
        balance: int | None = (await asyncio.to_thread(wallet_client().get_wallet, org)).available.hosting
    except WalletNotFound:
        balance = None
    except WalletError as exc:  # unreachable, or an answer we cannot use: try again later
        backoff.failures += 1
        backoff.until = now + gate.retry_delay(backoff.failures, SETTINGS.gate_retry_max)
        log.info("gate re-check of %s deferred: %s", org, exc)
        return
    _backoff.pop(org, None)
    for key in keys:
        closed = _closed.get(key)
        if closed is not None and not gate.still_closed(closed.reason, checked_balance.get(key), balance):
            await asyncio.to_thread(_recheck, *key)


def closed_by_org() -> dict[str, list[tuple[str, str]]]:
    orgs: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for key, closed in list(_closed.items()):
        orgs[closed.owner].append(key)
    for org in set(_backoff) - set(orgs):
        _backoff.pop(org, None)  # no closed gate left: no backoff to keep
    return orgs


async def gate_loop(stopped: asyncio.Event) -> None:
    while not stopped.is_set():
        now = time.monotonic()
        results = await asyncio.gather(*(recheck_org(org, keys, now) for org, keys in closed_by_org().items()),
                                       return_exceptions=True)
        for failure in (r for r in results if isinstance(r, Exception)):
            log.warning("gate re-check failed and will be retried: %r", failure)
        try:
            await asyncio.wait_for(stopped.wait(), SETTINGS.gate_poll_interval)
        except TimeoutError:
            pass


_stop = asyncio.Event()
_tasks: list[asyncio.Task[None]] = []


@kopf.on.cleanup()
async def stop_gate_watcher(**_: Any) -> None:
    _stop.set()
    await asyncio.gather(*_tasks, return_exceptions=True)
    _tasks.clear()
