"""Hourly hosting gas, with "hours" of a few seconds: exactly one charge per bucket."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timezone

import pytest

from tawa.controller.hosting import parse_bucket_id
from tawa.wallet.client import GasEvent
from tests.fixtures.cluster import KubeCluster, OperatorProcess, component_manifest, eventually
from tests.fixtures.wallet import WalletServer

pytestmark = pytest.mark.cluster


def hosting_events(wallet: WalletServer, org: str, component: str) -> list[GasEvent]:
    """Hosting charges of one Component ("namespace/name"), oldest bucket first."""
    events = wallet.client.gas_events(org=org, limit=1000).events
    return sorted((e for e in events if e.kind == "hosting" and e.details["component"] == component),
                  key=lambda e: e.details["hour"])


def assert_one_charge_per_bucket(events: list[GasEvent], period: float) -> None:
    hours = [parse_bucket_id(e.details["hour"]) for e in events]
    assert len(hours) == len(set(hours)), f"a bucket was charged twice: {[e.details['hour'] for e in events]}"
    gaps = [b - a for a, b in zip(hours, hours[1:])]
    assert all(abs(g - period) < 1e-6 for g in gaps), f"buckets skipped: {[e.details['hour'] for e in events]}"


def ready(kube: KubeCluster, ns: str, name: str, pods: int) -> None:
    eventually(lambda: kube.component(ns, name).get("status", {}).get("readyReplicas") == pods,
               what=f"{pods} ready pods")


def test_each_bucket_charged_rate_times_ready_pods(
        kube_cluster: KubeCluster, namespace: Callable[[str], str], wallet: WalletServer, org: str,
        operator: Callable[..., OperatorProcess]) -> None:
    operator(hosting_period="2")
    ns = namespace("app")
    comp = component_manifest("app", ns, org, tier="nano")
    kube_cluster.apply_component(comp)
    ready(kube_cluster, ns, "app", 1)
    eventually(lambda: len(hosting_events(wallet, org, f"{ns}/app")) >= 3, timeout=30, what="3 hosting charges")

    comp["spec"]["replicas"] = 3
    kube_cluster.apply_component(comp)
    ready(kube_cluster, ns, "app", 3)
    eventually(lambda: [e.tokens for e in hosting_events(wallet, org, f"{ns}/app")][-2:] == [15, 15], timeout=30,
               what="charges of 3 pods × 5 tokens")
    events = hosting_events(wallet, org, f"{ns}/app")
    assert_one_charge_per_bucket(events, 2.0)
    assert events[0].tokens == 5 and {e.tokens for e in events} <= {5, 10, 15}
    assert all(e.tokens == 5 * e.details["pods"] for e in events)
    balance = wallet.client.get_wallet(org).balances
    assert balance.intro == 50_000 - sum(e.tokens for e in hosting_events(wallet, org, f"{ns}/app"))


def test_operator_restarts_inside_a_bucket_charge_it_once(
        kube_cluster: KubeCluster, namespace: Callable[[str], str], wallet: WalletServer, org: str,
        operator: Callable[..., OperatorProcess]) -> None:
    ops = operator(hosting_period="6")
    ns = namespace("app")
    kube_cluster.apply_component(component_manifest("app", ns, org))
    ready(kube_cluster, ns, "app", 1)
    eventually(lambda: hosting_events(wallet, org, f"{ns}/app"), what="the first charge")
    for _ in range(3):
        ops.processes[-1].kill()
        ops.start()
        time.sleep(2)
    eventually(lambda: len(hosting_events(wallet, org, f"{ns}/app")) >= 3, timeout=30, what="3 buckets charged")
    assert_one_charge_per_bucket(hosting_events(wallet, org, f"{ns}/app"), 6.0)


def test_two_operators_at_once_charge_once_and_do_not_fight(
        kube_cluster: KubeCluster, namespace: Callable[[str], str], wallet: WalletServer, org: str,
        operator: Callable[..., OperatorProcess]) -> None:
    ops = operator(hosting_period="2")
    ops.start()
    ns = namespace("app")
    kube_cluster.apply_component(component_manifest("app", ns, org, replicas=2))
    ready(kube_cluster, ns, "app", 2)
    generation = kube_cluster.deployment(ns, "app").metadata.generation
    eventually(lambda: len(hosting_events(wallet, org, f"{ns}/app")) >= 4, timeout=30, what="4 buckets charged")
    assert_one_charge_per_bucket(hosting_events(wallet, org, f"{ns}/app"), 2.0)
    assert kube_cluster.deployment(ns, "app").metadata.generation == generation


def test_short_balance_sets_gas_exhausted_until_a_purchase_pays_the_missed_hours(
        kube_cluster: KubeCluster, namespace: Callable[[str], str], wallet: WalletServer, org: str,
        operator: Callable[..., OperatorProcess]) -> None:
    operator(hosting_period="2")
    ns = namespace("app")
    kube_cluster.apply_component(component_manifest("app", ns, org))
    ready(kube_cluster, ns, "app", 1)
    eventually(lambda: hosting_events(wallet, org, f"{ns}/app"), what="the first charge")
    # Another consumer drains the wallet to 3 tokens: less than one nano hour (5).
    left = wallet.client.get_wallet(org).total
    wallet.client.hosting_charge(org, "elsewhere/big", datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:00:00Z"), left - 3)

    exhausted = eventually(lambda: (c := kube_cluster.condition(ns, "app", "GasExhausted")) and
                           c["status"] == "True" and c, timeout=20, what="GasExhausted=True")
    assert exhausted["reason"] == "HostingUnpaid" and f"tawa wallet buy {org}" in exhausted["message"]
    events = [e for e in kube_cluster.events(ns, "app") if e.reason == "HostingUnpaid"]
    assert events and events[0].type == "Warning"
    assert kube_cluster.component(ns, "app")["status"]["unpaidTokens"] >= 5
    paid_before = len(hosting_events(wallet, org, f"{ns}/app"))

    time.sleep(4)  # two more buckets go unpaid
    wallet.client.purchase(org, 1000)
    cleared = eventually(lambda: (c := kube_cluster.condition(ns, "app", "GasExhausted")) and
                         c["status"] == "False" and c, timeout=20, what="GasExhausted=False after a purchase")
    assert cleared["reason"] == "HostingCharged"
    assert kube_cluster.component(ns, "app")["status"]["unpaidTokens"] == 0
    events = hosting_events(wallet, org, f"{ns}/app")
    assert len(events) >= paid_before + 2, [(e.details["hour"], e.tokens) for e in events]
    assert_one_charge_per_bucket(events, 2.0)  # the unpaid hours were charged after all, none twice


def test_a_deleted_component_is_charged_no_more(
        kube_cluster: KubeCluster, namespace: Callable[[str], str], wallet: WalletServer, org: str,
        operator: Callable[..., OperatorProcess]) -> None:
    operator(hosting_period="2")
    ns = namespace("app")
    kube_cluster.apply_component(component_manifest("app", ns, org))
    ready(kube_cluster, ns, "app", 1)
    eventually(lambda: len(hosting_events(wallet, org, f"{ns}/app")) >= 2, timeout=30, what="two charges")
    kube_cluster.custom.delete_namespaced_custom_object("tawa.insureco.io", "v1", ns, "components", "app")
    eventually(lambda: kube_cluster.deployment(ns, "app") is None, timeout=60, what="the Deployment to go")
    charged = len(hosting_events(wallet, org, f"{ns}/app"))
    time.sleep(6)  # three more buckets
    # The bucket running at deletion was paid at its start; nothing after it is charged.
    assert len(hosting_events(wallet, org, f"{ns}/app")) == charged
