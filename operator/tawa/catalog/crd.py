"""The Component CRD, generated from the pydantic model: one source of truth.

`python -m tawa.catalog.crd` prints it; crds/ holds the output and a test
checks the two never drift.
"""

from __future__ import annotations

import sys
from typing import Any

import yaml

from tawa.catalog.models import ComponentSpec
from tawa.gas.tiers import TIERS
from tawa.resource import API_GROUP, KIND, PLURAL

_DROP = {"title", "default", "description"}


def _structural(node: Any, defs: dict[str, Any]) -> Any:
    """Inline $refs and turn `anyOf [X, null]` into X, as Kubernetes requires."""
    if isinstance(node, list):
        return [_structural(n, defs) for n in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        return _structural(defs[node["$ref"].split("/")[-1]], defs)
    if "anyOf" in node:
        options = [o for o in node["anyOf"] if o.get("type") != "null"]
        merged = {**_structural(options[0], defs), **{k: v for k, v in node.items() if k != "anyOf"}}
        return _structural(merged, defs)
    out = {k: _structural(v, defs) for k, v in node.items() if k not in _DROP and k != "$defs"}
    if "const" in out:
        out["enum"] = [out.pop("const")]
    if out.get("additionalProperties") is False:
        del out["additionalProperties"]  # structural schemas prune unknown fields instead
    return out


def spec_schema() -> dict[str, Any]:
    schema = ComponentSpec.model_json_schema(by_alias=True)
    structural: dict[str, Any] = _structural(schema, schema.get("$defs", {}))
    return structural


def _condition_column(name: str, condition: str, field: str = "reason") -> dict[str, str]:
    return {"name": name, "type": "string",
            "jsonPath": f'.status.conditions[?(@.type=="{condition}")].{field}'}


def _string(description: str) -> dict[str, str]:
    return {"type": "string", "description": description}


def _billing_status() -> dict[str, Any]:
    """The hosting loop's fields (operator/tawa/controller/billing.py), described for
    `kubectl explain`. Types only, no bounds: the API server must never refuse the
    write that records a charge."""
    stretch = {"type": "object", "properties": {
        "from": _string("UTC start of the stretch's first idle bucket"),
        "through": _string("UTC start of the stretch's last idle bucket"),
    }}
    return {
        "lastChargedHour": _string(
            "UTC start of the last hosting bucket charged, every earlier one settled (after a suspension: the "
            "last one settled without a charge). Later buckets are charged while the operator sees Ready pods, "
            "and caught up (at most 24) after operator downtime, unless listed in idleHours."),
        "idleHours": {"type": "array", "items": stretch, "description": (
            "Buckets after lastChargedHour in which the operator saw no Ready pods (and none Ready later in "
            "the bucket), as from/through stretches: never charged, not even as catch-up. Recorded once per "
            "bucket; only the last 24 buckets are kept, and it is empty again once a charge passes them.")},
        "unpaidTokens": {"type": "integer", "description": (
            "Hosting tokens the wallet refused in the last round (GasExhausted=True), retried while the Component "
            "has Ready pods or is suspended; 0 when paid.")},
        "suspended": {"type": "object", "description": (
            "Set while the Deployment is scaled to 0 for unpaid hosting (TAWA_SUSPEND_AFTER); removed once the "
            "owed hours are paid and it is scaled back."), "properties": {
            "since": _string("when it was scaled to 0 (UTC, seconds)"),
            "lastHour": _string("UTC start of the last bucket charged while it had pods: the owed hours end there"),
            "pods": {"type": "integer", "description": "the Ready pods it had: each owed hour is charged for these"},
        }},
    }


def status_schema() -> dict[str, Any]:
    condition = {
        "type": "object",
        "required": ["type", "status"],
        "properties": {
            "type": {"type": "string"},
            "status": {"type": "string", "enum": ["True", "False", "Unknown"]},
            "reason": {"type": "string"},
            "message": {"type": "string"},
            "observedGeneration": {"type": "integer"},
            "lastTransitionTime": {"type": "string", "format": "date-time"},
        },
    }
    return {
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": True,
        "properties": {
            "observedGeneration": {"type": "integer"},
            "tier": {"type": "string", "enum": list(TIERS)},
            "runningTier": {"type": "string"},
            "replicas": {"type": "integer"},
            "readyReplicas": {"type": "integer"},
            "ready": {"type": "string"},
            "tokensPerHour": {"type": "integer"},
            **_billing_status(),
            "conditions": {
                "type": "array",
                "items": condition,
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["type"],
            },
        },
    }


def component_crd() -> dict[str, Any]:
    columns = [
        {"name": "Owner", "type": "string", "jsonPath": ".spec.owner"},
        {"name": "Tier", "type": "string", "jsonPath": ".status.tier"},
        _condition_column("Gate", "DeployGate"),
        {"name": "Ready", "type": "string", "jsonPath": ".status.ready"},
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
        # -o wide only: how long it has been held at 0 pods for unpaid hosting (READY shows 0/0).
        {"name": "Suspended", "type": "date", "jsonPath": ".status.suspended.since", "priority": 1},
    ]
    schema = {
        "type": "object",
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": spec_schema(),
            "status": status_schema(),
        },
    }
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{PLURAL}.{API_GROUP}"},
        "spec": {
            "group": API_GROUP,
            "scope": "Namespaced",
            "names": {"plural": PLURAL, "singular": KIND.lower(), "kind": KIND,
                      "shortNames": ["comp"], "categories": ["tawa"]},
            "versions": [{
                "name": "v1", "served": True, "storage": True,
                "subresources": {"status": {}},
                "additionalPrinterColumns": columns,
                "schema": {"openAPIV3Schema": schema},
            }],
        },
    }


def render_crd_yaml() -> str:
    header = "# Generated by `python -m tawa.catalog.crd` from tawa.catalog.models. Do not edit.\n"
    body: str = yaml.safe_dump(component_crd(), sort_keys=False)
    return header + body


if __name__ == "__main__":
    sys.stdout.write(render_crd_yaml())
