"""The Component's status as the operator's writers apply it, and what they share:
the resource kopf watches and the namespace of a body."""

from __future__ import annotations

from typing import Any

import kopf

from tawa.controller import kubeapi
from tawa.controller.conditions import Condition, merge_conditions
from tawa.resource import API_GROUP, PLURAL, VERSION

RESOURCE = (API_GROUP, VERSION, PLURAL)
# Each writer applies the status fields it owns as its own field manager.
RECONCILE_MANAGER = "tawa-operator"  # Valid, DeployGate, observedGeneration, tier, tokensPerHour
READINESS_MANAGER = "tawa-operator-readiness"  # Ready and the pod counts
BILLING_MANAGER = "tawa-operator-billing"  # GasExhausted and the hosting fields
COMPARED = ("status", "reason", "message", "observedGeneration")


def namespace_of(body: kopf.Body) -> str:
    """Components and Deployments are namespaced: their bodies always name one."""
    namespace = body.metadata.namespace
    if namespace is None:
        raise kopf.PermanentError(f"{body.get('kind')} {body.metadata.name} has no namespace")
    return namespace


def shown(status: dict[str, Any], conditions: list[dict[str, Any]], fields: dict[str, Any]) -> bool:
    """Whether the status already shows these conditions and fields."""
    current = {c["type"]: c for c in status.get("conditions", [])}
    return all(status.get(k) == v for k, v in fields.items()) and all(
        {k: current.get(c["type"], {}).get(k) for k in COMPARED} == {k: c.get(k) for k in COMPARED}
        for c in conditions)


def write_status(body: kopf.Body, manager: str, conditions: list[Condition], observed_generation: int | None,
                 **fields: Any) -> None:
    """Apply this writer's conditions and fields; lastTransitionTime moves only on a flip.
    Nothing is sent when the status already shows exactly this. A field given as None
    is left out of the apply, which removes it (e.g. status.suspended once resumed)."""
    current = body.status.get("conditions", [])
    mine = {c.type for c in conditions}
    merged = [c for c in merge_conditions(current, conditions, observed_generation) if c["type"] in mine]
    if shown(dict(body.status), merged, fields):
        return
    kubeapi.apply_component_status(body.metadata["name"], namespace_of(body), manager,
                                    {"conditions": merged, **{k: v for k, v in fields.items() if v is not None}})
