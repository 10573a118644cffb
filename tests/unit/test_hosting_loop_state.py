"""What the hosting loop keeps of each Component it tracks (held for every Component)."""

from __future__ import annotations

import kopf

from tawa.catalog.validate import check_component
from tawa.controller.billing import as_running, kept

BODY = {
    "apiVersion": "tawa.insureco.io/v1", "kind": "Component",
    "metadata": {
        "name": "docman", "namespace": "docman-prod", "uid": "u-1", "generation": 3, "resourceVersion": "99",
        "annotations": {"insureco.io/pod-tier": "small",
                        "tawa.insureco.io/last-handled-configuration": '{"spec": "a stored copy"}'},
        "managedFields": [{"manager": "tawa-operator", "fieldsV1": {"f:status": {}}}],
    },
    "spec": {"owner": "acme", "image": "docman:1", "replicas": 2},
    "status": {"readyReplicas": 2, "lastChargedHour": "2026-11-24T10:00:00Z"},
}


def test_the_loop_keeps_what_it_bills_by_and_drops_managed_fields_and_kopf_state() -> None:
    slim = kept(kopf.Body(BODY))
    assert "managedFields" not in slim["metadata"]
    assert slim["metadata"]["annotations"] == {"insureco.io/pod-tier": "small"}
    assert slim["status"] == BODY["status"] and slim["spec"] == BODY["spec"]
    body = kopf.Body(slim)
    component = check_component(body.metadata["name"], dict(body.metadata.annotations), dict(body.spec),
                                body.metadata.namespace)
    assert (component.tier.name, component.spec.replicas, body.metadata.uid) == ("small", 2, "u-1")


def test_hosting_is_billed_at_the_tier_the_pods_run() -> None:
    """A raise the gate refused leaves small pods running: they are charged as small."""
    component = check_component("docman", {"insureco.io/pod-tier": "xlarge"}, dict(BODY["spec"]), "docman-prod")
    assert as_running(component, {"runningTier": "small"}).tier.name == "small"
    assert as_running(component, {}).tier.name == "xlarge"  # no Deployment seen yet: what was asked
    assert as_running(component, {"runningTier": "huge"}).tier.name == "xlarge"  # not a tier: ignored
