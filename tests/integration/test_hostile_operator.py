"""A corpus of malformed Components against the real API server and the real operator.

Each one is either refused by the API server's schema with a message that names the
field, or accepted and answered by the operator with `Valid=False` naming the field.
Throughout, the operator stays up and keeps working: a good Component applied after
the corpus reconciles to Ready, and the ones applied before it keep theirs.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from tawa.resource import API_GROUP, PLURAL
from tests.fixtures.cluster import (
    KubeCluster,
    OperatorProcess,
    component_manifest,
    eventually,
)

pytestmark = pytest.mark.cluster


def good(name: str, ns: str, owner: str, **spec: Any) -> dict[str, Any]:
    return component_manifest(name, ns, owner, **spec)


def with_spec(name: str, ns: str, owner_: str, **changes: Any) -> dict[str, Any]:
    manifest = good(name, ns, owner_)
    for key, value in changes.items():
        if value is DROP:
            manifest["spec"].pop(key, None)
        else:
            manifest["spec"][key] = value
    return manifest


DROP = object()

# name → (how to build it, the field the refusal must name)
REFUSED_BY_SCHEMA: dict[str, tuple[Callable[[str, str, str], dict[str, Any]], str]] = {
    "replicas as a string": (lambda n, ns, o: with_spec(n, ns, o, replicas="3"), "spec.replicas"),
    "replicas negative": (lambda n, ns, o: with_spec(n, ns, o, replicas=-1), "spec.replicas"),
    "replicas huge": (lambda n, ns, o: with_spec(n, ns, o, replicas=10**9), "spec.replicas"),
    "port as a word": (lambda n, ns, o: with_spec(n, ns, o, port="http"), "spec.port"),
    "port out of range": (lambda n, ns, o: with_spec(n, ns, o, port=70000), "spec.port"),
    "routes as a string": (lambda n, ns, o: with_spec(n, ns, o, routes="/documents"), "spec.routes"),
    "route gas as a string": (lambda n, ns, o: with_spec(n, ns, o, routes=[{"path": "/d", "gas": "5"}]),
                              "spec.routes[0].gas"),
    "route gas negative": (lambda n, ns, o: with_spec(n, ns, o, routes=[{"path": "/d", "gas": -5}]),
                           "spec.routes[0].gas"),
    "route method lower-case": (lambda n, ns, o: with_spec(n, ns, o, routes=[{"path": "/d", "methods": ["get"]}]),
                                "spec.routes[0].methods[0]"),
    "route without a path": (lambda n, ns, o: with_spec(n, ns, o, routes=[{"gas": 1}]), "spec.routes[0].path"),
    "env as a mapping": (lambda n, ns, o: with_spec(n, ns, o, env={"A": "1"}), "spec.env"),
    "env name with a space": (lambda n, ns, o: with_spec(n, ns, o, env=[{"name": "A B", "value": "1"}]),
                              "spec.env[0].name"),
    "dependency service as a number": (lambda n, ns, o: with_spec(n, ns, o, dependencies=[{"service": 7}]),
                                       "spec.dependencies[0].service"),
    "dependency transport unknown": (lambda n, ns, o: with_spec(
        n, ns, o, internalDependencies=[{"service": "docman", "transport": "carrier-pigeon"}]),
        "spec.internalDependencies[0].transport"),
    "owner missing": (lambda n, ns, o: with_spec(n, ns, o, owner=DROP), "spec.owner"),
    "owner a number": (lambda n, ns, o: with_spec(n, ns, o, owner=42), "spec.owner"),
    "owner with spaces": (lambda n, ns, o: with_spec(n, ns, o, owner="Acme Corp"), "spec.owner"),
    "owner unicode": (lambda n, ns, o: with_spec(n, ns, o, owner="ñandú"), "spec.owner"),
    "spec missing": (lambda n, ns, o: {k: v for k, v in good(n, ns, o).items() if k != "spec"}, "spec"),
    "spec a list": (lambda n, ns, o: {**good(n, ns, o), "spec": ["owner", o]}, "spec"),
    "name unicode": (lambda n, ns, o: good("café-" + n, ns, o), "metadata.name"),
    "name with upper case": (lambda n, ns, o: good(n.upper(), ns, o), "metadata.name"),
    "name too long": (lambda n, ns, o: good(n + "-" + "x" * 260, ns, o), "metadata.name"),
    "databases missing type": (lambda n, ns, o: with_spec(n, ns, o, databases=[{"name": "db"}]),
                               "spec.databases[0].type"),
}

# Accepted by the API server; the operator must say Valid=False and name the field.
REFUSED_BY_OPERATOR: dict[str, tuple[Callable[[str, str, str], dict[str, Any]], str]] = {
    "unknown tier": (lambda n, ns, o: component_manifest(n, ns, o, tier="gigantic"),
                     'metadata.annotations["insureco.io/pod-tier"]'),
    "no image": (lambda n, ns, o: with_spec(n, ns, o, image=DROP), "spec.image"),
    "one service, two transports": (lambda n, ns, o: with_spec(n, ns, o, dependencies=[
        {"service": "docman", "transport": "direct"}, {"service": "docman", "transport": "janus"}]),
        "spec.dependencies[1]"),
}

# Names the API server takes for a custom resource but Kubernetes refuses for the
# Service and ServiceAccount the operator makes from them.
# (A leading digit is fine since Kubernetes relaxed Service names to DNS-1123 labels.)
REFUSED_NAMES: dict[str, Callable[[str], str]] = {
    "name with a dot": lambda n: n + ".v2",
    "name of 64 characters": lambda n: (n + "-" + "x" * 64)[:64],
}


def apply_raw(kube: KubeCluster, manifest: dict[str, Any]) -> None:
    """Server-side apply as `kubectl apply --server-side` would (no client-side checks)."""
    name = (manifest.get("metadata") or {}).get("name", "x")
    kube.custom.patch_namespaced_custom_object(
        API_GROUP, "v1", manifest["metadata"]["namespace"], PLURAL, name, manifest,
        field_manager="hostile-tests", force=True, _content_type="application/apply-patch+yaml")


@pytest.fixture
def rig(kube_cluster: KubeCluster, namespace: Callable[[str], str], org: str,
        operator: Callable[..., OperatorProcess]) -> Iterator[tuple[KubeCluster, str, str, OperatorProcess]]:
    ops = operator(hosting_period="3600")
    ns = namespace("hostile")
    yield kube_cluster, ns, org, ops


def test_the_api_server_refuses_malformed_components_naming_the_field(
        rig: tuple[KubeCluster, str, str, OperatorProcess]) -> None:
    kube, ns, org, _ = rig
    wrong: list[str] = []
    for i, (case, (build, field)) in enumerate(REFUSED_BY_SCHEMA.items()):
        manifest = build(f"bad{i}", ns, org)
        # As `kubectl create` / client-side `kubectl apply` send it: the schema answers 422.
        try:
            kube.custom.create_namespaced_custom_object(API_GROUP, "v1", ns, PLURAL, manifest)
        except ApiException as exc:
            if exc.status != 422 or field not in (exc.body or ""):
                wrong.append(f"{case}: HTTP {exc.status}, does not name {field}: {(exc.body or '')[:300]}")
        else:
            wrong.append(f"{case}: accepted by the API server")
        # As `tawa deploy` / `kubectl apply --server-side` send it: refused too, naming the field
        # (a type mismatch fails while building the typed patch, which kube-apiserver answers 500).
        try:
            apply_raw(kube, manifest)
        except ApiException as exc:
            typed = exc.status == 500 and "failed to create typed patch object" in (exc.body or "")
            if not (exc.status == 422 or typed) or field.split("[")[0] not in (exc.body or ""):
                wrong.append(f"{case} (server-side apply): HTTP {exc.status}: {(exc.body or '')[:300]}")
        else:
            wrong.append(f"{case}: accepted by server-side apply")
    assert not wrong, "\n".join(wrong)


def test_the_operator_marks_accepted_but_invalid_components_valid_false_naming_the_field_and_keeps_working(
        rig: tuple[KubeCluster, str, str, OperatorProcess]) -> None:
    kube, ns, org, ops = rig
    kube.apply_component(good("before", ns, org))  # running before the corpus: must stay Ready
    eventually(lambda: (kube.condition(ns, "before", "Ready") or {}).get("status") == "True", what="before Ready")

    names = {}
    for i, (case, (build, _)) in enumerate(REFUSED_BY_OPERATOR.items()):
        names[case] = f"inv{i}"
        apply_raw(kube, build(f"inv{i}", ns, org))
    for case, name in names.items():
        field = REFUSED_BY_OPERATOR[case][1]
        valid = eventually(lambda n=name: (c := kube.condition(ns, n, "Valid")) and c["status"] == "False" and c,
                           timeout=60, what=f"Valid=False for {case}")
        assert valid["reason"] == "InvalidSpec" and field in valid["message"], (case, valid)
        assert kube.deployment(ns, name) is None, case  # nothing half-applied
        events = eventually(lambda n=name: [e for e in kube.events(ns, n) if e.reason == "InvalidSpec"], timeout=30,
                            what=f"an InvalidSpec event for {case}")
        assert field in events[0].message and events[0].type == "Warning", (case, [e.message for e in events])
    kube.apply_component(good("after", ns, org))
    eventually(lambda: (kube.condition(ns, "after", "Ready") or {}).get("status") == "True", timeout=60,
               what="a good Component applied after the corpus Ready")
    assert (kube.condition(ns, "before", "Ready") or {}).get("status") == "True"
    assert all(p.alive() for p in ops.processes), ops.logs()


def test_a_megabyte_string_is_refused_or_reconciled_and_never_stalls_the_operator(
        rig: tuple[KubeCluster, str, str, OperatorProcess]) -> None:
    kube, ns, org, ops = rig
    for field in ("system", "image"):
        manifest = good(f"mega-{field}", ns, org)
        manifest["spec"][field] = "x" * (1024 * 1024)
        try:
            apply_raw(kube, manifest)
        except ApiException as exc:
            assert exc.status in (400, 413, 422) and (field in (exc.body or "") or exc.status == 413), exc.body[:500]
            continue
        # Accepted: the operator must come to a verdict on it (Ready, or Valid/DeployGate naming why not).
        eventually(lambda f=field: any(c["type"] in ("Ready", "Valid") for c in
                                       (kube.component(ns, f"mega-{f}").get("status") or {}).get("conditions", [])),
                   timeout=60, what=f"a verdict on the 1 MB spec.{field}")
    kube.apply_component(good("after-mega", ns, org))
    eventually(lambda: (kube.condition(ns, "after-mega", "Ready") or {}).get("status") == "True", timeout=60,
               what="a good Component after the 1 MB ones Ready")
    assert all(p.alive() for p in ops.processes), ops.logs()


@pytest.mark.parametrize("case", REFUSED_NAMES)
def test_a_component_name_kubernetes_refuses_for_a_service_gets_valid_false_naming_metadata_name(
        rig: tuple[KubeCluster, str, str, OperatorProcess], case: str) -> None:
    kube, ns, org, _ops = rig
    name = REFUSED_NAMES[case]("svc")
    apply_raw(kube, good(name, ns, org))  # the API server takes it: a CR name is a DNS subdomain
    valid = eventually(lambda: (c := kube.condition(ns, name, "Valid")) and c["status"] == "False" and c,
                       timeout=12, what=f"Valid=False for {name!r}")
    assert "metadata.name" in valid["message"], valid
    kube.apply_component(good("next", ns, org))
    eventually(lambda: (kube.condition(ns, "next", "Ready") or {}).get("status") == "True", timeout=60,
               what="the next good Component Ready")


def test_a_component_with_two_thousand_routes_reconciles_to_ready(
        rig: tuple[KubeCluster, str, str, OperatorProcess]) -> None:
    kube, ns, org, _ops = rig
    big = copy.deepcopy(good("huge-lists", ns, org))
    big["spec"]["routes"] = [{"path": f"/r{i}", "methods": ["GET"], "gas": i % 7} for i in range(2000)]
    big["spec"]["providesApis"] = [f"api-{i}" for i in range(2000)]
    apply_raw(kube, big)  # large but valid: reconciled like any other
    # (Found here: the readiness writer once sent observedGeneration null before the first
    # reconcile's status landed, the API server refused it, and Ready was never shown.)
    eventually(lambda: (kube.deployment(ns, "huge-lists") or None) and
               (kube.deployment(ns, "huge-lists").status.ready_replicas or 0) == 1, timeout=60,
               what="its pod ready")
    eventually(lambda: (kube.condition(ns, "huge-lists", "Ready") or {}).get("status") == "True", timeout=30,
               what="the Component with 2,000 routes Ready")
