"""kopf handlers for Component: kopf's settings, the indices, the reconcile handler
(reconcile.py does the work) and the readiness watcher (hourly hosting is in
billing.py, closed gates are re-checked by gatewatch.py). Thin: decisions live in the
pure modules beside this one; state lives in the OperatorContext in kopf's memo."""

from __future__ import annotations

import logging
from typing import Any

import kopf

from tawa.catalog.env import TargetService
from tawa.controller import children, kubeapi
from tawa.controller.conditions import Condition, merge_conditions
from tawa.controller.context import context_of
from tawa.controller.reconcile import Owned, Targets, reconcile_component
from tawa.controller.status import READINESS_MANAGER, RESOURCE, namespace_of
from tawa.resource import API_GROUP, KIND, MANAGER, condition


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    context_of(memo)  # fail at once, not in the first handler, when there is no context
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=API_GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=API_GROUP, key="last-handled-configuration")
    settings.posting.level = logging.WARNING  # our own Events are explicit; kopf's chatter stays in the log
    settings.watching.server_timeout = 270
    settings.execution.max_workers = kubeapi.WORKER_THREADS
    # An idle per-object worker keeps its last watch event (a whole object) alive
    # until it exits: with 1,000s of objects, 5 s (kopf's default) held ~30 MB.
    settings.queueing.idle_timeout = 0.5


@kopf.on.cleanup()
async def stop_loops(memo: kopf.Memo, **_: Any) -> None:
    """The hosting loop and the gate watcher finish their rounds."""
    await context_of(memo).stop()


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


@kopf.index("apps", "v1", "deployments", labels={"app.kubernetes.io/managed-by": MANAGER})  # type: ignore[arg-type]  # see KOPF_KWARGS
async def owned_deployments(namespace: str, name: str, body: kopf.Body, **_: Any) -> dict[tuple[str, str], Any]:
    """What each owned Deployment runs and the hash of what was applied, from the
    watch: no GET per reconcile. A stale entry only ever costs an extra gate check
    or an extra apply, never a skipped one."""
    return {(namespace, name): (children.rollout_fields(dict(body)), children.applied_hash(dict(body)))}


@kopf.on.resume(*RESOURCE)
@kopf.on.create(*RESOURCE)
@kopf.on.update(*RESOURCE)  # type: ignore[arg-type]  # see KOPF_KWARGS
def reconcile(body: kopf.Body, memo: kopf.Memo, components_by_name: Targets, owned_deployments: Owned,
              **_: Any) -> None:
    """Always completes: a closed gate is recorded, not retried by kopf. A kopf retry
    is dropped when the object returns to its last handled state (a tier raised, then
    lowered back, is no change to kopf), so the gate watcher re-checks closed gates."""
    context = context_of(memo)
    with context.locks.of((namespace_of(body), body.metadata["name"])):
        reconcile_component(context, body, components_by_name, owned_deployments)


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


@kopf.on.event(  # type: ignore[arg-type]  # see KOPF_KWARGS
    "apps", "v1", "deployments", labels={"app.kubernetes.io/managed-by": MANAGER})
def deployment_changed(body: kopf.Body, type: str | None, memo: kopf.Memo,
                       component_readiness: kopf.Index[tuple[str, str], Any], **_: Any) -> None:
    """Mirror the owned Deployment's readiness onto its Component as it happens."""
    owner = next((o for o in body.metadata.get("ownerReferences", []) if o.get("kind") == KIND), None)
    if owner is None:
        return
    verdict, fields = _readiness(None if type == "DELETED" else dict(body))
    namespace, component = key = (namespace_of(body), str(owner["name"]))
    written = (fields["ready"], verdict.status, verdict.message)
    readiness_written = context_of(memo).readiness_written
    if readiness_written.get(key) == written:
        return  # this process wrote exactly this already
    _ready_count, ready, observed = next(iter(component_readiness.get(key, [])), (None, None, None))
    merged = merge_conditions([ready] if ready else [], [verdict], observed)
    kubeapi.apply_component_status(component, namespace, READINESS_MANAGER, {"conditions": merged, **fields})
    readiness_written[key] = written
