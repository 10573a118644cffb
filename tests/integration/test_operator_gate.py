"""The deploy gate: no pods until the owner's wallet covers a 3-month reserve."""

from __future__ import annotations

import time
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


@pytest.fixture
def production_backoff(operator: Callable[..., OperatorProcess]) -> OperatorProcess:
    """The chart's defaults: a kopf retry backoff would be tens of seconds by now."""
    return operator(gate_retry_max="60", gate_poll_interval="2")


def ready_pods(kube: KubeCluster, ns: str, name: str, tier: str, memory: str) -> None:
    def shown() -> bool:
        dep = kube.deployment(ns, name)
        ready = kube.condition(ns, name, "Ready")
        return bool(dep and ready and ready["status"] == "True"
                    and dep.spec.template.metadata.labels["tawa.insureco.io/tier"] == tier
                    and dep.spec.template.spec.containers[0].resources.limits == {"memory": memory})
    eventually(shown, what=f"Ready pods of tier {tier}")


def answered(kube: KubeCluster, ns: str, name: str, tier: str, reason: str, timeout: float = 60.0) -> dict:
    """The status that answers the tier asked for (the tier is an annotation: no new generation)."""
    return eventually(lambda: (c := kube.condition(ns, name, "DeployGate")) and c["reason"] == reason
                      and kube.component(ns, name)["status"].get("tier") == tier and c,
                      timeout=timeout, what=f"DeployGate {reason} for tier {tier}")


def applied_app(kube: KubeCluster, namespace: Callable[[str], str], org: str, tier: str) -> tuple[str, dict]:
    """A Component "app" of this tier in a fresh namespace: (namespace, its manifest)."""
    ns = namespace("app")
    comp = component_manifest("app", ns, org, tier=tier)
    kube.apply_component(comp)
    return ns, comp


def set_tier(kube: KubeCluster, comp: dict, tier: str) -> None:
    comp["metadata"]["annotations"]["insureco.io/pod-tier"] = tier
    kube.apply_component(comp)


def shown_ready(kube: KubeCluster, ns: str, name: str) -> dict:
    """status.ready and the Ready condition, once written."""
    eventually(lambda: kube.component(ns, name)["status"].get("ready"), what="status.ready")
    return {"ready": kube.component(ns, name)["status"]["ready"], **(kube.condition(ns, name, "Ready") or {})}


def test_a_tier_raised_past_the_reserve_then_lowered_back_runs_again(
        kube_cluster: KubeCluster, namespace: Callable[[str], str], org: str,
        production_backoff: OperatorProcess) -> None:
    ns, comp = applied_app(kube_cluster, namespace, org, "nano")
    ready_pods(kube_cluster, ns, "app", "nano", "256Mi")

    set_tier(kube_cluster, comp, "xlarge")
    closed = answered(kube_cluster, ns, "app", "xlarge", "InsufficientReserve")
    assert "1 × xlarge" in closed["message"]

    set_tier(kube_cluster, comp, "nano")  # as the message advises
    opened = answered(kube_cluster, ns, "app", "nano", "ReserveCovered", timeout=15)
    assert opened["status"] == "True"
    ready_pods(kube_cluster, ns, "app", "nano", "256Mi")


def test_a_blocked_component_shows_ready_0_of_0_and_why(
        kube_cluster: KubeCluster, namespace: Callable[[str], str], org: str, gated: OperatorProcess) -> None:
    ns, _ = applied_app(kube_cluster, namespace, org, "medium")
    answered(kube_cluster, ns, "app", "medium", "InsufficientReserve")
    ready = shown_ready(kube_cluster, ns, "app")
    assert (ready["ready"], ready["status"], ready["reason"]) == ("0/0", "False", "InsufficientReserve")
    assert ready["message"].startswith("0/0 pods: no Deployment until this is fixed: deploy blocked:")


def test_lowering_the_tier_of_a_blocked_component_deploys_it_at_once(
        kube_cluster: KubeCluster, namespace: Callable[[str], str], org: str,
        production_backoff: OperatorProcess) -> None:
    ns, comp = applied_app(kube_cluster, namespace, org, "medium")
    answered(kube_cluster, ns, "app", "medium", "InsufficientReserve")
    time.sleep(16)  # a retry backoff (1, 2, 4, 8, 16 s) would next retry about 15 s from now

    set_tier(kube_cluster, comp, "nano")
    answered(kube_cluster, ns, "app", "nano", "ReserveCovered", timeout=8)
    ready_pods(kube_cluster, ns, "app", "nano", "256Mi")


def test_a_purchase_opens_the_gate_within_seconds(
        kube_cluster: KubeCluster, namespace: Callable[[str], str], wallet: WalletServer, org: str,
        production_backoff: OperatorProcess) -> None:
    """Purchase → gate open, measured three times: a medium first deployed, then raised
    to large and to xlarge on a running Component (raise, then buy)."""
    ns = namespace("app")
    comp = component_manifest("app", ns, org, tier="medium")
    waits = []
    for tier in ("medium", "large", "xlarge"):
        set_tier(kube_cluster, comp, tier)
        closed = answered(kube_cluster, ns, "app", tier, "InsufficientReserve")
        time.sleep(8)  # a retry backoff would be at 8-16 s by now
        shortfall = int(closed["message"].split("; ")[1].split(" short")[0].replace(",", ""))
        wallet.client.purchase(org, shortfall + 1_000)  # and the hour a running pod may be charged meanwhile
        bought = time.monotonic()
        answered(kube_cluster, ns, "app", tier, "ReserveCovered", timeout=30)
        waits.append(time.monotonic() - bought)
        eventually(lambda t=tier: kube_cluster.deployment(ns, "app").spec.template.metadata.labels[
            "tawa.insureco.io/tier"] == t, what=f"the {tier} Deployment")
    print(f"purchase → gate open: {[round(w, 1) for w in waits]} s")  # shown with -rP
    assert max(waits) <= 5, f"purchase → gate open took {[round(w, 1) for w in waits]} s"


def test_an_invalid_spec_still_shows_its_tier_gate_and_readiness(
        kube_cluster: KubeCluster, namespace: Callable[[str], str], org: str, gated: OperatorProcess) -> None:
    ns = namespace("app")
    comp = component_manifest("app", ns, org, tier="small")
    del comp["spec"]["image"]
    kube_cluster.apply_component(comp)
    valid = eventually(lambda: kube_cluster.condition(ns, "app", "Valid"), what="Valid")
    assert (valid["status"], valid["reason"]) == ("False", "InvalidSpec")
    ready = shown_ready(kube_cluster, ns, "app")
    assert (ready["ready"], ready["status"], ready["reason"]) == ("0/0", "False", "InvalidSpec")
    assert kube_cluster.component(ns, "app")["status"]["tier"] == "small"
    assert kube_cluster.condition(ns, "app", "DeployGate")["reason"] == "InvalidSpec"
    assert "spec.image: is required to run pods" in ready["message"]
