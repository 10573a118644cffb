"""kopf handlers for Component: reconcile (validate → env → gate → apply) and the
readiness watcher (hourly hosting is in billing.py). Thin: decisions live in the pure
modules beside this one."""

from __future__ import annotations

import logging
import threading
from functools import cache
from typing import Any

import kopf

from tawa.catalog.env import TargetService, pick_target, plan_env
from tawa.catalog.problems import CatalogError
from tawa.catalog.validate import Component, check_deployable
from tawa.controller import children, gate, kubeapi, metrics
from tawa.controller.conditions import Condition, condition, merge_conditions
from tawa.controller.settings import OperatorSettings
from tawa.gas.tiers import DEFAULT_TIER, TIERS
from tawa.resource import API_GROUP, KIND, MANAGER, PLURAL, TIER_ANNOTATION
from tawa.wallet.client import WalletClient, WalletNotFound, WalletUnavailable, wallet_id

SETTINGS = OperatorSettings()
RECONCILE_MANAGER = "tawa-operator"
READINESS_MANAGER = "tawa-operator-readiness"
RESOURCE = (API_GROUP, "v1", PLURAL)


@cache
def wallet_client() -> WalletClient:
    """One client for the process: it is thread-safe, and keeps its connections."""
    return WalletClient(SETTINGS.wallet_url, SETTINGS.wallet_token, timeout=5.0)


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=API_GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=API_GROUP, key="last-handled-configuration")
    settings.posting.level = logging.WARNING  # our own Events are explicit; kopf's chatter stays in the log
    settings.watching.server_timeout = 270
    settings.execution.max_workers = kubeapi.WORKER_THREADS
    # An idle per-object worker keeps its last watch event (a whole object) alive
    # until it exits: with 1,000s of objects, 5 s (kopf's default) held ~30 MB.
    settings.queueing.idle_timeout = 0.5


def namespace_of(body: kopf.Body) -> str:
    """Components and Deployments are namespaced: their bodies always name one."""
    namespace = body.metadata.namespace
    if namespace is None:
        raise kopf.PermanentError(f"{body.get('kind')} {body.metadata.name} has no namespace")
    return namespace


def _shown(status: dict[str, Any], conditions: list[dict[str, Any]], fields: dict[str, Any]) -> bool:
    shown = {c["type"]: c for c in status.get("conditions", [])}
    return all(status.get(k) == v for k, v in fields.items()) and all(
        {k: shown.get(c["type"], {}).get(k) for k in ("status", "reason", "message", "observedGeneration")}
        == {k: c.get(k) for k in ("status", "reason", "message", "observedGeneration")} for c in conditions)


def write_status(body: kopf.Body, manager: str, conditions: list[Condition], observed_generation: int | None,
                 **fields: Any) -> None:
    """Apply this writer's conditions and fields; lastTransitionTime moves only on a flip.
    Nothing is sent when the status already shows exactly this. A field given as None
    is left out of the apply, which removes it (e.g. status.suspended once resumed)."""
    current = body.status.get("conditions", [])
    mine = {c.type for c in conditions}
    merged = [c for c in merge_conditions(current, conditions, observed_generation) if c["type"] in mine]
    if _shown(dict(body.status), merged, fields):
        return
    kubeapi.apply_component_status(body.metadata["name"], namespace_of(body), manager,
                                    {"conditions": merged, **{k: v for k, v in fields.items() if v is not None}})


def _reconciled(body: kopf.Body, generation: int, *conditions: Condition, **fields: Any) -> None:
    """The reconcile writer owns Valid, DeployGate, observedGeneration, tier and tokensPerHour;
    a DeployGate not decided this time is carried over, as an apply must repeat what it owns."""
    owned = list(conditions)
    if not any(c.type == gate.GATE for c in owned) and (previous := condition(body.status, gate.GATE)):
        owned.append(Condition(gate.GATE, previous["status"] == "True", previous["reason"], previous["message"]))
    write_status(body, RECONCILE_MANAGER, owned, generation, observedGeneration=generation, **fields)


# KOPF_KWARGS: kopf's handler protocols name neither the index kwargs it passes to
# a handler nor that `namespace` is a str for a namespaced resource, so mypy cannot
# match these handlers to them.

# The index handlers are async though they never await: they do no I/O, and kopf
# runs every sync handler through its thread pool (a context copy and a queued
# future per watch event, held by every object waiting for a thread in a burst).
@kopf.index(*RESOURCE)  # type: ignore[arg-type]  # see KOPF_KWARGS
async def components_by_name(name: str, namespace: str, spec: kopf.Spec, **_: Any) -> dict[str, TargetService]:
    """Where each service lives, so direct URLs follow the target Component."""
    return {name: TargetService(namespace, int(spec.get("port") or 3000))}


def _lookup(index: kopf.Index[str, TargetService], caller_namespace: str) -> Any:
    def lookup(service: str) -> TargetService | None:
        return pick_target(service, SETTINGS.env, caller_namespace, list(index.get(service, [])))
    return lookup


def _validate(body: kopf.Body) -> tuple[Component | None, Condition]:
    meta = body.metadata
    try:
        component = check_deployable(meta["name"], dict(meta.annotations), dict(body.spec), meta.namespace)
    except CatalogError as exc:
        message = "; ".join(str(p) for p in exc.problems)
        kopf.warn(body, reason="InvalidSpec", message=message)
        return None, Condition("Valid", False, "InvalidSpec", message)
    return component, Condition("Valid", True, "Valid", "spec is valid")


# The hosting balance each Component's last gate check saw: the gate watcher re-checks
# a closed gate when its org's balance is no longer that.
checked_balance: dict[tuple[str, str], int] = {}


def _gate_verdict(component: Component, body: kopf.Body) -> Condition:
    """Ask the wallet whether the owner covers the reserve; warn once per new closed verdict."""
    wallet = wallet_id(component.spec.owner)
    if component.spec.replicas == 0:
        return gate.nothing_to_reserve(wallet)  # the wallet refuses a check for 0 replicas
    try:
        check = wallet_client().check_reserve(component.spec.owner, component.tier.name, component.spec.replicas)
    except WalletNotFound:
        verdict = gate.wallet_not_found(component, wallet)
    except WalletUnavailable as exc:
        verdict = gate.wallet_unavailable(wallet, str(exc))
    else:
        checked_balance[(namespace_of(body), component.name)] = check.balance
        verdict = gate.covered(wallet, check.balance, check.required) if check.ok else \
            gate.insufficient_reserve(component, wallet, check.balance, check.required, check.shortfall)
    metrics.gate_decisions.labels(verdict.reason).inc()
    metrics.gate_open.labels(body.metadata.namespace, component.name, component.spec.owner).set(int(verdict.status))
    previous = condition(body.status, gate.GATE)
    closed_anew = not previous or (previous.get("reason"), previous.get("message")) != (verdict.reason, verdict.message)
    if not verdict.status and closed_anew:
        kopf.warn(body, reason=verdict.reason, message=verdict.message)  # once per verdict, not per retry
    return verdict


def _desired(component: Component, body: kopf.Body,
             index: kopf.Index[str, TargetService]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    ns, uid = namespace_of(body), body.metadata.uid
    plan = plan_env(component.spec, SETTINGS.env, _lookup(index, ns), SETTINGS.platform_services)
    for notice in plan.notices:
        kopf.warn(body, reason=notice.reason, message=notice.message)
    deployment = children.deployment(component, ns, uid, plan.variables)
    return [children.service_account(component, ns, uid), children.service(component, ns, uid)], deployment


@kopf.index("apps", "v1", "deployments", labels={"app.kubernetes.io/managed-by": MANAGER})  # type: ignore[arg-type]  # see KOPF_KWARGS
async def owned_deployments(namespace: str, name: str, body: kopf.Body, **_: Any) -> dict[tuple[str, str], Any]:
    """What each owned Deployment runs and the hash of what was applied, from the
    watch: no GET per reconcile. A stale entry only ever costs an extra gate check
    or an extra apply, never a skipped one."""
    return {(namespace, name): (children.rollout_fields(dict(body)), children.applied_hash(dict(body)))}


# One reconcile at a time per Component: kopf's handler and the gate watcher's
# re-check (gatewatch.py) may both run one.
_locks: dict[tuple[str, str], threading.Lock] = {}
_locks_guard = threading.Lock()


def component_lock(namespace: str, name: str) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault((namespace, name), threading.Lock())


def forget_component(namespace: str, name: str) -> None:
    """A deleted Component's per-process state."""
    with _locks_guard:
        _locks.pop((namespace, name), None)
    checked_balance.pop((namespace, name), None)


@kopf.on.resume(*RESOURCE)
@kopf.on.create(*RESOURCE)
@kopf.on.update(*RESOURCE)  # type: ignore[arg-type]  # see KOPF_KWARGS
def reconcile(body: kopf.Body, components_by_name: kopf.Index[str, TargetService],
              owned_deployments: kopf.Index[tuple[str, str], Any], **_: Any) -> None:
    """Always completes: a closed gate is recorded, not retried by kopf. A kopf retry
    is dropped when the object returns to its last handled state (a tier raised, then
    lowered back, is no change to kopf), so the gate watcher re-checks closed gates."""
    with component_lock(namespace_of(body), body.metadata["name"]):
        reconcile_component(body, components_by_name, owned_deployments)


def _annotated_tier(body: kopf.Body) -> str | None:
    """The tier the annotations ask for, when it is one (status.tier is an enum)."""
    name = body.metadata.annotations.get(TIER_ANNOTATION, DEFAULT_TIER)
    return name if name in TIERS else None


def reconcile_component(body: kopf.Body, components_by_name: kopf.Index[str, TargetService],
                        owned_deployments: kopf.Index[tuple[str, str], Any]) -> None:
    """Validate, pass the gate if the rollout changes, apply; status.tier and
    observedGeneration record which spec and tier this answers (`tawa deploy` waits for them)."""
    generation = body.metadata.get("generation", 0)
    ns = namespace_of(body)
    existing, existing_hash = next(iter(owned_deployments.get((ns, body.metadata["name"]), [])), (None, None))
    component, valid = _validate(body)
    if component is None:
        unchecked = [] if condition(body.status, gate.GATE) else [gate.not_checked()]
        _reconciled(body, generation, valid, *unchecked, tier=_annotated_tier(body))
        if existing is None:
            _show_not_deployed(body, valid)
        return  # nothing half-applied: the existing Deployment stays as it is
    fields = {"tier": component.tier.name, "tokensPerHour": component.tier.tokens_per_hour * component.spec.replicas}
    others, deployment = _desired(component, body, components_by_name)
    digest = children.stamp([*others, deployment])
    held = bool(body.status.get("suspended"))
    if held:  # suspended for unpaid hosting: the billing loop scales it back once paid
        deployment = children.hold_at_zero(deployment)
    updates = [valid]
    was_closed = (condition(body.status, gate.GATE) or {}).get("status") == "False"
    # A rollout passes the gate; so does a spec back to what runs after a closed verdict
    # (e.g. the tier lowered again), whose verdict no longer answers this spec.
    if existing != children.rollout_fields(deployment) or was_closed:
        verdict = _gate_verdict(component, body)
        updates.append(verdict)
        if not verdict.status:
            _reconciled(body, generation, *updates, **fields)
            if existing is None:
                _show_not_deployed(body, verdict)
            return  # the gate watcher re-checks it: at once once the wallet changes
    if digest != existing_hash:  # a re-run on an unchanged spec applies nothing
        for obj in (*others, deployment):
            kubeapi.apply(obj)
        kopf.event(body, type="Normal", reason="Applied", message=f"Deployment {component.name} applied "
                   f"({component.spec.replicas} × {component.tier.name}, image {component.spec.image})"
                   + ("; kept at 0 pods while suspended for unpaid hosting" if held else ""))
    _reconciled(body, generation, *updates, **fields)


def _show_not_deployed(body: kopf.Body, why: Condition) -> None:
    """No Deployment, and none until `why` is fixed: READY 0/0 and Ready=False naming the
    reason, written as the readiness writer, which takes over once a Deployment exists."""
    ns, name = namespace_of(body), body.metadata["name"]
    verdict = Condition("Ready", False, why.reason, f"0/0 pods: no Deployment until this is fixed: {why.message}")
    fields = {"ready": "0/0", "readyReplicas": 0, "replicas": 0}
    ready = condition(body.status, "Ready")
    merged = merge_conditions([ready] if ready else [], [verdict], body.metadata.get("generation"))
    if _shown(dict(body.status), merged, fields):
        return
    kubeapi.apply_component_status(name, ns, READINESS_MANAGER, {"conditions": merged, **fields})
    _readiness_written.pop((ns, name), None)  # the Deployment's first event must write again


def _readiness(deployment: dict[str, Any] | None) -> tuple[Condition, dict[str, Any]]:
    status, spec = (deployment or {}).get("status") or {}, (deployment or {}).get("spec") or {}
    ready, desired = int(status.get("readyReplicas") or 0), int(spec.get("replicas") or 0)
    if deployment is None:
        verdict = Condition("Ready", False, "NoDeployment", "no Deployment yet")
    elif children.suspended(deployment):
        verdict = Condition("Ready", False, "Suspended", f"{ready}/{desired} pods ready: scaled to 0 while "
                            "hosting is unpaid (suspendAfter); see GasExhausted")
    else:
        verdict = Condition("Ready", desired > 0 and ready >= desired,
                            "PodsReady" if desired > 0 and ready >= desired else "PodsNotReady",
                            f"{ready}/{desired} pods ready")
    fields: dict[str, Any] = {"ready": f"{ready}/{desired}", "readyReplicas": ready, "replicas": desired}
    running = children.running_tier(deployment) if deployment else None
    if running:
        fields["runningTier"] = running  # what hosting charges for (billing.as_running)
    return verdict, fields


@kopf.index(*RESOURCE)  # type: ignore[arg-type]  # see KOPF_KWARGS
async def component_readiness(namespace: str, name: str, status: kopf.Status, **_: Any) -> dict[tuple[str, str], Any]:
    """Each Component's Ready condition, so a new write keeps its lastTransitionTime."""
    return {(namespace, name): (status.get("ready"), condition(status, "Ready"), status.get("observedGeneration"))}


# What this process last wrote, per Component. Skipping on what the Component shows
# instead would let a second operator's late, stale write stand: each process
# sees its Deployment events in order, so the last write of each is the truth.
_readiness_written: dict[tuple[str, str], tuple[str, bool, str]] = {}


@kopf.on.event(  # type: ignore[arg-type]  # see KOPF_KWARGS
    "apps", "v1", "deployments", labels={"app.kubernetes.io/managed-by": MANAGER})
def deployment_changed(body: kopf.Body, type: str | None, component_readiness: kopf.Index[tuple[str, str], Any],
                       **_: Any) -> None:
    """Mirror the owned Deployment's readiness onto its Component as it happens."""
    owner = next((o for o in body.metadata.get("ownerReferences", []) if o.get("kind") == KIND), None)
    if owner is None:
        return
    verdict, fields = _readiness(None if type == "DELETED" else dict(body))
    namespace, component = key = (namespace_of(body), str(owner["name"]))
    written = (fields["ready"], verdict.status, verdict.message)
    if _readiness_written.get(key) == written:
        return  # this process wrote exactly this already
    _ready_count, ready, observed = next(iter(component_readiness.get(key, [])), (None, None, None))
    merged = merge_conditions([ready] if ready else [], [verdict], observed)
    kubeapi.apply_component_status(component, namespace, READINESS_MANAGER, {"conditions": merged, **fields})
    _readiness_written[key] = written
