"""The deploy gate: no pods until the owner's wallet covers a 3-month reserve."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.fixtures.cluster import KubeCluster, OperatorProcess, component_manifest, eventually
from tests.fixtures.wallet import WalletServer

pytestmark = pytest.mark.cluster


def gate_of(kube: KubeCluster, ns: str, name: str, reason: str) -> dict:
    return eventually(lambda: (c := kube.condition(ns, name, "DeployGate")) and c["reason"] == reason and c,
                      what=f"DeployGate reason {reason}")


@pytest.fixture
def gated(operator: Callable[..., OperatorProcess]) -> OperatorProcess:
    return operator(gate_retry_max="1")


@pytest.mark.parametrize("tier", ["nano", "small"])
def test_intro_tokens_cover_nano_and_small(kube_cluster: KubeCluster, namespace: Callable[[str], str],
                                           org: str, gated: OperatorProcess, tier: str) -> None:
    ns = namespace(tier)
    kube_cluster.apply_component(component_manifest("app", ns, org, tier=tier))
    covered = gate_of(kube_cluster, ns, "app", "ReserveCovered")
    assert covered["status"] == "True"
    required = {"nano": "10,950", "small": "21,900"}[tier]
    assert covered["message"] == f"wallet-{org} holds 50,000 tokens, covering the 3-month reserve of {required}"
    eventually(lambda: kube_cluster.deployment(ns, "app"), what="the Deployment")


def test_medium_is_refused_370_short_until_a_purchase_opens_the_gate(
        kube_cluster: KubeCluster, namespace: Callable[[str], str], wallet: WalletServer, org: str,
        gated: OperatorProcess) -> None:
    ns = namespace("analytics")
    kube_cluster.apply_component(component_manifest("analytics", ns, org, tier="medium"))
    closed = gate_of(kube_cluster, ns, "analytics", "InsufficientReserve")
    assert closed["status"] == "False"
    assert closed["message"] == (
        f"deploy blocked: wallet-{org} holds 50,000 tokens but 1 × medium pod(s) (23/hour each) need a "
        f"3-month reserve of 50,370; 370 short. Buy at least 370 tokens (tawa wallet buy {org} 370) or lower "
        'metadata.annotations["insureco.io/pod-tier"]; the gate reopens by itself once covered')
    events = [e for e in kube_cluster.events(ns, "analytics") if e.reason == "InsufficientReserve"]
    assert len(events) == 1 and events[0].type == "Warning" and events[0].message == closed["message"]
    assert kube_cluster.deployment(ns, "analytics") is None

    wallet.client.purchase(org, 370)
    gate_of(kube_cluster, ns, "analytics", "ReserveCovered")
    eventually(lambda: (c := kube_cluster.condition(ns, "analytics", "Ready")) and c["status"] == "True",
               what="Ready=True after the purchase")


def test_refused_tier_upgrade_leaves_running_version_untouched(
        kube_cluster: KubeCluster, namespace: Callable[[str], str], wallet: WalletServer, org: str,
        gated: OperatorProcess) -> None:
    ns = namespace("app")
    comp = component_manifest("app", ns, org, tier="small", image="registry.local/app:1")
    kube_cluster.apply_component(comp)
    eventually(lambda: (c := kube_cluster.condition(ns, "app", "Ready")) and c["status"] == "True", what="Ready")
    before = kube_cluster.deployment(ns, "app")
    pods_before = sorted(p.metadata.name for p in kube_cluster.core.list_namespaced_pod(ns).items)

    comp["metadata"]["annotations"]["insureco.io/pod-tier"] = "xlarge"
    comp["spec"]["image"] = "registry.local/app:2"
    kube_cluster.apply_component(comp)
    closed = gate_of(kube_cluster, ns, "app", "InsufficientReserve")
    assert "181,770" in closed["message"]
    after = kube_cluster.deployment(ns, "app")
    assert after.metadata.generation == before.metadata.generation
    assert after.spec.template.spec.containers[0].image == "registry.local/app:1"
    assert after.spec.template.spec.containers[0].resources.limits == {"memory": "512Mi"}
    assert sorted(p.metadata.name for p in kube_cluster.core.list_namespaced_pod(ns).items) == pods_before


def test_wallet_down_fails_closed_then_recovers(
        kube_cluster: KubeCluster, namespace: Callable[[str], str], wallet: WalletServer, org: str,
        gated: OperatorProcess) -> None:
    wallet.stop()
    ns = namespace("app")
    kube_cluster.apply_component(component_manifest("app", ns, org))
    closed = gate_of(kube_cluster, ns, "app", "WalletUnavailable")
    assert f"could not be reached to check wallet-{org}" in closed["message"]
    assert "fail closed" in closed["message"]
    assert kube_cluster.deployment(ns, "app") is None
    wallet.start()
    gate_of(kube_cluster, ns, "app", "ReserveCovered")
    eventually(lambda: kube_cluster.deployment(ns, "app"), what="the Deployment once the wallet is back")


def test_unknown_owner_is_wallet_not_found(
        kube_cluster: KubeCluster, namespace: Callable[[str], str], gated: OperatorProcess) -> None:
    ns = namespace("app")
    kube_cluster.apply_component(component_manifest("app", ns, "nobody"))
    closed = gate_of(kube_cluster, ns, "app", "WalletNotFound")
    assert "no wallet wallet-nobody for owner 'nobody'" in closed["message"]
    events = eventually(lambda: [e for e in kube_cluster.events(ns, "app") if e.reason == "WalletNotFound"],
                        what="a WalletNotFound event")
    assert events[0].type == "Warning"
    assert kube_cluster.deployment(ns, "app") is None
