"""The reconcile of one Component: validate → env → gate → apply, and the status it
records. Run by kopf's handler (handlers.py) and by the gate watcher's re-check
(gatewatch.py), one at a time per Component (`OperatorContext.locks`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import kopf

from tawa.catalog.env import TargetService, pick_target, plan_env
from tawa.catalog.problems import CatalogError
from tawa.catalog.validate import Component, check_deployable
from tawa.controller import children, gate, kubeapi, metrics
from tawa.controller.conditions import Condition, merge_conditions
from tawa.controller.context import OperatorContext
from tawa.controller.status import READINESS_MANAGER, RECONCILE_MANAGER, namespace_of, shown, write_status
from tawa.gas.tiers import DEFAULT_TIER, TIERS
from tawa.resource import TIER_ANNOTATION, condition
from tawa.wallet.client import WalletNotFound, WalletUnavailable, wallet_id

Targets = kopf.Index[str, TargetService]  # kopf's components_by_name
Owned = kopf.Index[tuple[str, str], Any]  # kopf's owned_deployments


def _reconciled(body: kopf.Body, generation: int, *conditions: Condition, **fields: Any) -> None:
    """The reconcile writer owns Valid, DeployGate, observedGeneration, tier and tokensPerHour;
    a DeployGate not decided this time is carried over, as an apply must repeat what it owns."""
    owned = list(conditions)
    if not any(c.type == gate.GATE for c in owned) and (previous := condition(body.status, gate.GATE)):
        owned.append(Condition(gate.GATE, previous["status"] == "True", previous["reason"], previous["message"]))
    write_status(body, RECONCILE_MANAGER, owned, generation, observedGeneration=generation, **fields)


def _lookup(context: OperatorContext, index: Targets, caller_namespace: str) -> Callable[[str], TargetService | None]:
    def lookup(service: str) -> TargetService | None:
        return pick_target(service, context.settings.env, caller_namespace, list(index.get(service, [])))
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


def _ask_wallet(context: OperatorContext, component: Component, body: kopf.Body) -> Condition:
    """The wallet's verdict on the owner's reserve; the balance it saw is kept for the gate watcher."""
    wallet = wallet_id(component.spec.owner)
    try:
        check = context.wallet.check_reserve(component.spec.owner, component.tier.name, component.spec.replicas)
    except WalletNotFound:
        return gate.wallet_not_found(component, wallet)
    except WalletUnavailable as exc:
        return gate.wallet_unavailable(wallet, str(exc))
    context.gate.checked_balance[(namespace_of(body), component.name)] = check.balance
    if check.ok:
        return gate.covered(wallet, check.balance, check.required)
    return gate.insufficient_reserve(component, wallet, check.balance, check.required, check.shortfall)


def _gate_verdict(context: OperatorContext, component: Component, body: kopf.Body) -> Condition:
    """Ask the wallet whether the owner covers the reserve; warn once per new closed verdict."""
    if component.spec.replicas == 0:  # the wallet refuses a check for 0 replicas
        return gate.nothing_to_reserve(wallet_id(component.spec.owner))
    verdict = _ask_wallet(context, component, body)
    metrics.gate_decisions.labels(verdict.reason).inc()
    metrics.gate_open.labels(body.metadata.namespace, component.name, component.spec.owner).set(int(verdict.status))
    previous = condition(body.status, gate.GATE)
    closed_anew = not previous or (previous.get("reason"), previous.get("message")) != (verdict.reason, verdict.message)
    if not verdict.status and closed_anew:
        kopf.warn(body, reason=verdict.reason, message=verdict.message)  # once per verdict, not per retry
    return verdict


def _desired(context: OperatorContext, component: Component, body: kopf.Body,
             index: Targets) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    ns, uid = namespace_of(body), body.metadata.uid
    plan = plan_env(component.spec, context.settings.env, _lookup(context, index, ns),
                    context.settings.platform_services)
    for notice in plan.notices:
        kopf.warn(body, reason=notice.reason, message=notice.message)
    deployment = children.deployment(component, ns, uid, plan.variables)
    return [children.service_account(component, ns, uid), children.service(component, ns, uid)], deployment


def _annotated_tier(body: kopf.Body) -> str | None:
    """The tier the annotations ask for, when it is one (status.tier is an enum)."""
    name = body.metadata.annotations.get(TIER_ANNOTATION, DEFAULT_TIER)
    return name if name in TIERS else None


def _record_invalid(context: OperatorContext, body: kopf.Body, valid: Condition, deployed: bool) -> None:
    """An invalid spec: Valid=False, a gate never checked; the existing Deployment stays as it is."""
    unchecked = [] if condition(body.status, gate.GATE) else [gate.not_checked()]
    _reconciled(body, body.metadata.get("generation", 0), valid, *unchecked, tier=_annotated_tier(body))
    if not deployed:
        _show_not_deployed(context, body, valid)


def reconcile_component(context: OperatorContext, body: kopf.Body, components_by_name: Targets,
                        owned_deployments: Owned) -> None:
    """Validate, pass the gate if the rollout changes, apply; status.tier and
    observedGeneration record which spec and tier this answers (`tawa deploy` waits for them)."""
    generation = body.metadata.get("generation", 0)
    ns = namespace_of(body)
    existing, existing_hash = next(iter(owned_deployments.get((ns, body.metadata["name"]), [])), (None, None))
    component, valid = _validate(body)
    if component is None:
        _record_invalid(context, body, valid, existing is not None)
        return  # nothing half-applied
    fields = {"tier": component.tier.name, "tokensPerHour": component.tier.tokens_per_hour * component.spec.replicas}
    others, deployment = _desired(context, component, body, components_by_name)
    digest = children.stamp([*others, deployment])
    held = bool(body.status.get("suspended"))
    if held:  # suspended for unpaid hosting: the billing loop scales it back once paid
        deployment = children.hold_at_zero(deployment)
    updates = [valid]
    was_closed = (condition(body.status, gate.GATE) or {}).get("status") == "False"
    # A rollout passes the gate; so does a spec back to what runs after a closed verdict
    # (e.g. the tier lowered again), whose verdict no longer answers this spec.
    if existing != children.rollout_fields(deployment) or was_closed:
        verdict = _gate_verdict(context, component, body)
        updates.append(verdict)
        if not verdict.status:
            _reconciled(body, generation, *updates, **fields)
            if existing is None:
                _show_not_deployed(context, body, verdict)
            return  # the gate watcher re-checks it: at once once the wallet changes
    if digest != existing_hash:  # a re-run on an unchanged spec applies nothing
        _apply(body, component, [*others, deployment], held)
    _reconciled(body, generation, *updates, **fields)


def _apply(body: kopf.Body, component: Component, objects: list[dict[str, Any]], held: bool) -> None:
    for obj in objects:
        kubeapi.apply(obj)
    kopf.event(body, type="Normal", reason="Applied", message=f"Deployment {component.name} applied "
               f"({component.spec.replicas} × {component.tier.name}, image {component.spec.image})"
               + ("; kept at 0 pods while suspended for unpaid hosting" if held else ""))


def _show_not_deployed(context: OperatorContext, body: kopf.Body, why: Condition) -> None:
    """No Deployment, and none until `why` is fixed: READY 0/0 and Ready=False naming the
    reason, written as the readiness writer, which takes over once a Deployment exists."""
    ns, name = namespace_of(body), body.metadata["name"]
    verdict = Condition("Ready", False, why.reason, f"0/0 pods: no Deployment until this is fixed: {why.message}")
    fields = {"ready": "0/0", "readyReplicas": 0, "replicas": 0}
    ready = condition(body.status, "Ready")
    merged = merge_conditions([ready] if ready else [], [verdict], body.metadata.get("generation"))
    if shown(dict(body.status), merged, fields):
        return
    kubeapi.apply_component_status(name, ns, READINESS_MANAGER, {"conditions": merged, **fields})
    context.readiness_written.pop((ns, name), None)  # the Deployment's first event must write again
