"""The objects a Component owns — ServiceAccount, Service, Deployment (pure)."""

from __future__ import annotations

import hashlib
import json
from typing import Any, cast

from tawa.catalog.env import container_env
from tawa.catalog.validate import Component
from tawa.resource import (
    ADMITTED_REPLICAS,
    API_VERSION,
    APPLIED_HASH,
    KIND,
    MANAGER,
    OWNER_LABEL,
    SUSPENDED,
    TIER_LABEL,
)


def labels(component: Component) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": component.name,
        "app.kubernetes.io/instance": component.name,
        "app.kubernetes.io/managed-by": MANAGER,
        "app.kubernetes.io/part-of": "tawa",
        OWNER_LABEL: component.spec.owner,
        TIER_LABEL: component.tier.name,
    }


def selector(component: Component) -> dict[str, str]:
    return {"app.kubernetes.io/name": component.name, "app.kubernetes.io/instance": component.name}


def owner_reference(name: str, uid: str) -> dict[str, Any]:
    return {"apiVersion": API_VERSION, "kind": KIND, "name": name, "uid": uid,
            "controller": True, "blockOwnerDeletion": True}


def _metadata(component: Component, namespace: str, uid: str) -> dict[str, Any]:
    return {"name": component.name, "namespace": namespace, "labels": labels(component),
            "ownerReferences": [owner_reference(component.name, uid)]}


def service_account(component: Component, namespace: str, uid: str) -> dict[str, Any]:
    """One identity per Component: Janus maps its projected token back to the owner."""
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _metadata(component, namespace, uid),
            "automountServiceAccountToken": False}


def service(component: Component, namespace: str, uid: str) -> dict[str, Any]:
    port = component.spec.port
    return {
        "apiVersion": "v1", "kind": "Service", "metadata": _metadata(component, namespace, uid),
        "spec": {"selector": selector(component),
                 "ports": [{"name": "http", "port": port, "targetPort": "http", "protocol": "TCP"}]},
    }


def deployment(component: Component, namespace: str, uid: str, injected: dict[str, str]) -> dict[str, Any]:
    spec, tier = component.spec, component.tier
    container = {
        "name": component.name,
        "image": spec.image,
        "ports": [{"name": "http", "containerPort": spec.port, "protocol": "TCP"}],
        "env": container_env(injected, spec.env),
        "resources": {"requests": {"memory": tier.memory}, "limits": {"memory": tier.memory}},
        "securityContext": {"allowPrivilegeEscalation": False, "runAsNonRoot": True,
                            "capabilities": {"drop": ["ALL"]}},
    }
    metadata = {**_metadata(component, namespace, uid), "annotations": {ADMITTED_REPLICAS: str(spec.replicas)}}
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": metadata,
        "spec": {
            "replicas": spec.replicas,
            "selector": {"matchLabels": selector(component)},
            "template": {
                "metadata": {"labels": labels(component)},
                "spec": {"serviceAccountName": component.name, "containers": [container]},
            },
        },
    }



def stamp(objects: list[dict[str, Any]]) -> str:
    """A hash of everything a reconcile applies, kept on the Deployment: an equal
    hash means there is nothing to apply."""
    digest = hashlib.sha256(json.dumps(objects, sort_keys=True).encode()).hexdigest()[:16]
    objects[-1]["metadata"].setdefault("annotations", {})[APPLIED_HASH] = digest
    return digest


def applied_hash(deployment_obj: dict[str, Any]) -> str | None:
    return ((deployment_obj.get("metadata") or {}).get("annotations") or {}).get(APPLIED_HASH)


def _annotations(deployment_obj: dict[str, Any]) -> dict[str, str]:
    return (deployment_obj.get("metadata") or {}).get("annotations") or {}


def admitted_replicas(deployment_obj: dict[str, Any]) -> int | None:
    """The replicas admitted for this Deployment: the annotation, else (written by an
    older operator, never suspended) its spec.replicas."""
    value = _annotations(deployment_obj).get(ADMITTED_REPLICAS)
    if value is not None and value.isdigit():
        return int(value)
    replicas = (deployment_obj.get("spec") or {}).get("replicas")
    return None if replicas is None else int(replicas)


def suspended(deployment_obj: dict[str, Any]) -> bool:
    return SUSPENDED in _annotations(deployment_obj)


def hold_at_zero(deployment_obj: dict[str, Any]) -> dict[str, Any]:
    """The Deployment of a suspended Component: its template as admitted, no pods.
    Its applied hash and admitted replicas stay those of the spec, so a suspension
    alone neither re-applies it nor passes the gate again."""
    return {**deployment_obj, "spec": {**deployment_obj["spec"], "replicas": 0}}


def running_tier(deployment_obj: dict[str, Any]) -> str | None:
    """The tier of the pods the Deployment runs (its template's label)."""
    template = (deployment_obj.get("spec") or {}).get("template") or {}
    return cast(str | None, ((template.get("metadata") or {}).get("labels") or {}).get(TIER_LABEL))


def rollout_fields(deployment_obj: dict[str, Any] | None) -> tuple[Any, ...] | None:
    """What, when it changes, rolls out new pods and so passes the gate: image, tier,
    and the admitted replicas (not the live count, which is 0 while suspended)."""
    if not deployment_obj:
        return None
    spec = deployment_obj.get("spec") or {}
    template = spec.get("template") or {}
    containers = (template.get("spec") or {}).get("containers") or [{}]
    return containers[0].get("image"), running_tier(deployment_obj), admitted_replicas(deployment_obj)
