"""The Component resource's identity and every key Tawa puts on objects (pure).

One module, as kubebuilder keeps a group's identity in ``groupversion_info.go``:
the API group, version, kind and plural, and every label and annotation key the
catalog, the operator, Janus and the CLI read or write.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

API_GROUP = "tawa.insureco.io"
VERSION = "v1"
API_VERSION = f"{API_GROUP}/{VERSION}"
KIND = "Component"
PLURAL = "components"

# Set by people in catalog-info.yaml.
TIER_ANNOTATION = "insureco.io/pod-tier"
# Where Janus sends a service's calls when it is not the Component's own Service
# (a service outside the cluster, or the dev stack's upstream).
UPSTREAM_URL_ANNOTATION = f"{API_GROUP}/upstream-url"

# Written by the operator.
MANAGER = "tawa-operator"
OWNER_LABEL = f"{API_GROUP}/owner"
TIER_LABEL = f"{API_GROUP}/tier"  # on the pod template: the tier the pods run
# The replica count the deploy gate admitted for the Deployment's template: what a
# Deployment suspended for unpaid hosting (spec.replicas 0) is scaled back to, and
# what the gate compares a change with, so a suspension is not a rollout.
ADMITTED_REPLICAS = f"{API_GROUP}/replicas"
# Set (to the suspension time) while the Deployment is scaled to 0 for unpaid hosting,
# in the same patch as the scale, so that its readiness reads "Suspended".
SUSPENDED = f"{API_GROUP}/suspended"
# A hash of everything a reconcile applied, kept on the Deployment.
APPLIED_HASH = f"{API_GROUP}/applied-hash"


def condition(status: Mapping[str, Any] | None, type_: str) -> Mapping[str, Any] | None:
    """The condition `type_` of a Component's status.conditions, or None."""
    return next((c for c in (status or {}).get("conditions", []) if c.get("type") == type_), None)
