"""Components on a real control plane: children, env injection, conditions, events."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.fixtures.cluster import KubeCluster, OperatorProcess, component_manifest, eventually
from tests.fixtures.wallet import WalletServer

pytestmark = pytest.mark.cluster


def env_of(deployment: Any) -> dict[str, str]:
    return {e.name: e.value for e in deployment.spec.template.spec.containers[0].env or []}


@pytest.fixture
def running(operator: Callable[..., OperatorProcess], wallet: WalletServer) -> OperatorProcess:
    wallet.client.create_wallet("insureco")
    return operator()


def test_component_gets_deployment_service_and_running_pods(
        kube_cluster: KubeCluster, namespace: Callable[[str], str], running: OperatorProcess) -> None:
    ns = namespace("quoter")
    comp = component_manifest("quoter", ns, "insureco", tier="small", replicas=2, internalDependencies=[
        {"service": "docman", "transport": "janus"}, {"service": "relay"}, {"service": "billing", "port": 8080},
        {"service": "ledger-ui", "transport": "gateway"}])
    created = kube_cluster.apply_component(comp)

    dep = eventually(lambda: kube_cluster.deployment(ns, "quoter"), what="the Deployment")
    assert env_of(dep) == {
        "DOCMAN_URL": "http://janus.janus-prod.svc.cluster.local:3000/proxy/docman",
        "RELAY_URL": "http://relay.relay-prod.svc.cluster.local:3000",
        "BILLING_URL": "http://billing.billing-prod.svc.cluster.local:8080",
    }
    container = dep.spec.template.spec.containers[0]
    assert container.resources.limits == {"memory": "512Mi"}
    assert container.resources.requests == {"memory": "512Mi"}
    assert dep.metadata.labels["app.kubernetes.io/managed-by"] == "tawa-operator"
    assert dep.metadata.labels["app.kubernetes.io/name"] == "quoter"
    owner = dep.metadata.owner_references[0]
    assert (owner.kind, owner.name, owner.uid, owner.controller) == ("Component", "quoter",
                                                                     created["metadata"]["uid"], True)
    svc = kube_cluster.core.read_namespaced_service("quoter", ns)
    assert svc.spec.ports[0].port == 3000 and svc.metadata.owner_references[0].uid == created["metadata"]["uid"]
    assert kube_cluster.core.read_namespaced_service_account("quoter", ns).metadata.owner_references

    eventually(lambda: (kube_cluster.condition(ns, "quoter", "Ready") or {}).get("status") == "True",
               what="Ready=True")
    pods = kube_cluster.core.list_namespaced_pod(ns, label_selector="app.kubernetes.io/name=quoter").items
    assert [p.status.phase for p in pods] == ["Running", "Running"]
    status = kube_cluster.component(ns, "quoter")["status"]
    assert status["ready"] == "2/2" and status["tier"] == "small"
    ready = kube_cluster.condition(ns, "quoter", "Ready")
    assert ready["observedGeneration"] == created["metadata"]["generation"]


def test_direct_url_follows_the_target_component(
        kube_cluster: KubeCluster, namespace: Callable[[str], str], running: OperatorProcess) -> None:
    docs_ns, caller_ns = namespace("docs"), namespace("caller")
    service = docs_ns.replace("docs-", "docman")  # a name no other test uses
    kube_cluster.apply_component(component_manifest(service, docs_ns, "insureco", port=8443))
    eventually(lambda: kube_cluster.deployment(docs_ns, service), what="the target's Deployment")
    kube_cluster.apply_component(component_manifest("caller", caller_ns, "insureco",
                                                    dependencies=[{"service": service, "port": 1234}]))
    dep = eventually(lambda: kube_cluster.deployment(caller_ns, "caller"), what="caller's Deployment")
    variable = service.upper() + "_URL"
    assert env_of(dep)[variable] == f"http://{service}.{docs_ns}.svc.cluster.local:8443"


def test_transport_change_updates_env_in_place(
        kube_cluster: KubeCluster, namespace: Callable[[str], str], running: OperatorProcess) -> None:
    ns = namespace("app")
    comp = component_manifest("app", ns, "insureco", dependencies=[{"service": "raterspot"}])
    kube_cluster.apply_component(comp)
    first = eventually(lambda: kube_cluster.deployment(ns, "app"), what="the Deployment")
    assert env_of(first)["RATERSPOT_URL"] == "http://raterspot.raterspot-prod.svc.cluster.local:3000"

    comp["spec"]["dependencies"] = [{"service": "raterspot", "transport": "janus", "scopes": ["raterspot:rate"]}]
    kube_cluster.apply_component(comp)
    janus = "http://janus.janus-prod.svc.cluster.local:3000/proxy/raterspot"
    updated = eventually(lambda: (d := kube_cluster.deployment(ns, "app")) and env_of(d)["RATERSPOT_URL"] == janus
                         and d, what="RATERSPOT_URL to point at Janus")
    assert updated.metadata.uid == first.metadata.uid


def test_explicit_env_wins_over_injected(
        kube_cluster: KubeCluster, namespace: Callable[[str], str], running: OperatorProcess) -> None:
    ns = namespace("app")
    kube_cluster.apply_component(component_manifest(
        "app", ns, "insureco", dependencies=[{"service": "docman"}],
        env=[{"name": "DOCMAN_URL", "value": "http://localhost:9999"}, {"name": "LOG_LEVEL", "value": "debug"}]))
    dep = eventually(lambda: kube_cluster.deployment(ns, "app"), what="the Deployment")
    assert env_of(dep) == {"DOCMAN_URL": "http://localhost:9999", "LOG_LEVEL": "debug"}


def test_invalid_update_sets_condition_and_event_and_leaves_the_deployment(
        kube_cluster: KubeCluster, namespace: Callable[[str], str], running: OperatorProcess) -> None:
    ns = namespace("app")
    comp = component_manifest("app", ns, "insureco", image="registry.local/app:1")
    kube_cluster.apply_component(comp)
    before = eventually(lambda: kube_cluster.deployment(ns, "app"), what="the Deployment")

    comp["spec"]["image"] = "registry.local/app:2"
    comp["spec"]["internalDependencies"] = [{"service": "docman"}]
    comp["spec"]["dependencies"] = [{"service": "docman", "transport": "janus"}]
    kube_cluster.apply_component(comp)
    valid = eventually(lambda: (c := kube_cluster.condition(ns, "app", "Valid")) and c["status"] == "False" and c,
                       what="Valid=False")
    assert valid["reason"] == "InvalidSpec"
    assert "spec.dependencies[0]" in valid["message"] and "spec.internalDependencies[0]" in valid["message"]
    events = eventually(lambda: [e for e in kube_cluster.events(ns, "app") if e.reason == "InvalidSpec"],
                        what="an InvalidSpec event")
    assert events[0].type == "Warning" and "spec.dependencies[0]" in events[0].message
    after = kube_cluster.deployment(ns, "app")
    assert after.spec.template.spec.containers[0].image == "registry.local/app:1"
    assert after.metadata.generation == before.metadata.generation


def test_unknown_tier_is_reported_on_the_annotation(
        kube_cluster: KubeCluster, namespace: Callable[[str], str], running: OperatorProcess) -> None:
    ns = namespace("app")
    kube_cluster.apply_component(component_manifest("app", ns, "insureco", tier="gigantic"))
    valid = eventually(lambda: kube_cluster.condition(ns, "app", "Valid"), what="the Valid condition")
    assert valid["status"] == "False"
    assert 'metadata.annotations["insureco.io/pod-tier"]' in valid["message"] and "gigantic" in valid["message"]
    assert kube_cluster.deployment(ns, "app") is None


def test_schema_refuses_bad_fields_at_apply_time(kube_cluster: KubeCluster, namespace: Callable[[str], str]) -> None:
    from kubernetes.client.exceptions import ApiException

    ns = namespace("app")
    comp = component_manifest("app", ns, "insureco", dependencies=[{"service": "docman", "transport": "bus"}],
                              routes=[{"path": "/x", "gas": -1}])
    with pytest.raises(ApiException) as info:
        kube_cluster.apply_component(comp)
    assert info.value.status == 422
    body = info.value.body if isinstance(info.value.body, str) else info.value.body.decode()
    assert "spec.dependencies[0].transport" in body and "spec.routes[0].gas" in body


def test_platform_service_on_janus_and_ignored_port_warn(
        kube_cluster: KubeCluster, namespace: Callable[[str], str], running: OperatorProcess) -> None:
    ns = namespace("app")
    kube_cluster.apply_component(component_manifest(
        "app", ns, "insureco", internalDependencies=[{"service": "relay", "transport": "janus", "port": 9000}]))
    reasons = eventually(lambda: {e.reason: e for e in kube_cluster.events(ns, "app")}.keys()
                         >= {"PlatformServiceMetered", "PortIgnored"} and
                         {e.reason: e for e in kube_cluster.events(ns, "app")}, what="both warnings")
    assert reasons["PortIgnored"].type == "Warning" and "9000" in reasons["PortIgnored"].message
    assert "transport direct" in reasons["PlatformServiceMetered"].message


def test_delete_garbage_collects_children(
        kube_cluster: KubeCluster, namespace: Callable[[str], str], running: OperatorProcess) -> None:
    ns = namespace("app")
    kube_cluster.apply_component(component_manifest("app", ns, "insureco"))
    eventually(lambda: kube_cluster.deployment(ns, "app"), what="the Deployment")
    kube_cluster.custom.delete_namespaced_custom_object("tawa.insureco.io", "v1", ns, "components", "app")
    eventually(lambda: kube_cluster.deployment(ns, "app") is None, timeout=60, what="the Deployment to be collected")
    eventually(lambda: not kube_cluster.core.list_namespaced_service(ns).items, what="the Service to be collected")


def test_operator_restarted_midway_converges_without_duplicates(
        kube_cluster: KubeCluster, namespace: Callable[[str], str], operator: Callable[..., OperatorProcess],
        wallet: WalletServer) -> None:
    wallet.client.create_wallet("insureco")
    ops = operator()
    ns = namespace("app")
    names = [f"svc{i}" for i in range(5)]
    for name in names:
        kube_cluster.apply_component(component_manifest(name, ns, "insureco"))
    ops.processes[-1].kill()
    ops.start()
    for name in names:
        eventually(lambda n=name: (c := kube_cluster.condition(ns, n, "Ready")) and c["status"] == "True",
                   what=f"{name} Ready")
    deployments = kube_cluster.apps.list_namespaced_deployment(ns).items
    assert sorted(d.metadata.name for d in deployments) == names
    replica_sets = kube_cluster.apps.list_namespaced_replica_set(ns).items
    assert len(replica_sets) == len(names)


def test_kubectl_get_shows_owner_tier_gate_ready(
        kube_cluster: KubeCluster, namespace: Callable[[str], str], running: OperatorProcess) -> None:
    import subprocess

    ns = namespace("app")
    kube_cluster.apply_component(component_manifest("app", ns, "insureco", tier="small"))
    eventually(lambda: (c := kube_cluster.condition(ns, "app", "Ready")) and c["status"] == "True", what="Ready")
    out = subprocess.run(["kubectl", "--kubeconfig", str(kube_cluster.kubeconfig), "get", "comp", "-n", ns],
                         capture_output=True, text=True, check=True).stdout
    header, row = out.splitlines()[:2]
    assert header.split() == ["NAME", "OWNER", "TIER", "GATE", "READY", "AGE"]
    assert row.split()[:5] == ["app", "insureco", "small", "ReserveCovered", "1/1"]


def test_json_logs_are_one_object_per_line_naming_the_component(
        kube_cluster: KubeCluster, namespace: Callable[[str], str], operator: Callable[..., OperatorProcess],
        wallet: WalletServer) -> None:
    wallet.client.create_wallet("insureco")
    ops = operator(log_format="json")
    ns = namespace("app")
    kube_cluster.apply_component(component_manifest("app", ns, "insureco"))
    eventually(lambda: kube_cluster.deployment(ns, "app"), what="the Deployment")

    def lines() -> list[dict[str, Any]]:
        text = ops.processes[0].log.read_text()
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    # The cluster is shared: other tests' Components named "app" live in other namespaces.
    about_app = eventually(lambda: [e for e in lines() if (e.get("object") or {}).get("namespace") == ns
                                    and e["object"].get("kind") == "Component"],
                           what="a log line naming the Component")
    assert about_app[0]["object"]["name"] == "app"
    assert all({"message", "severity", "timestamp"} <= e.keys() for e in lines())
