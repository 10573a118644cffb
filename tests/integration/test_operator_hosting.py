"""Hourly hosting gas, with "hours" of a few seconds: exactly one charge per bucket."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from itertools import pairwise
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tawa.controller.hosting import bucket_start, parse_bucket_id
from tawa.controller.suspension import parse_iso
from tawa.resource import API_GROUP, PLURAL
from tawa.wallet.client import GasEvent
from tests.fixtures.cluster import KubeCluster, OperatorProcess, component_manifest, eventually
from tests.fixtures.ports import free_port
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
    gaps = [b - a for a, b in pairwise(hours)]
    assert all(abs(g - period) < 1e-6 for g in gaps), f"buckets skipped: {[e.details['hour'] for e in events]}"


def ready(kube: KubeCluster, ns: str, name: str, pods: int) -> None:
    eventually(lambda: kube.component(ns, name).get("status", {}).get("readyReplicas") == pods,
               what=f"{pods} ready pods")


def drain(wallet: WalletServer, org: str, leave: int) -> None:
    """Another consumer spends the wallet down to `leave` tokens."""
    left = wallet.client.get_wallet(org).total
    wallet.client.hosting_charge(org, "elsewhere/big", datetime.now(UTC).strftime("%Y-%m-%dT%H:00:00Z"),
                                 left - leave)


def gas_exhausted(kube: KubeCluster, ns: str, name: str, status: str) -> dict[str, Any]:
    found: dict[str, Any] = eventually(
        lambda: (c := kube.condition(ns, name, "GasExhausted")) and c["status"] == status and c,
        timeout=20, what=f"GasExhausted={status}")
    return found


def replicas(kube: KubeCluster, ns: str, name: str) -> int | None:
    deployment = kube.deployment(ns, name)
    return None if deployment is None else int(deployment.spec.replicas)


def running_app(kube: KubeCluster, namespace: Callable[[str], str], org: str,
                operator: Callable[..., OperatorProcess], period: float) -> str:
    """An operator with `period`-second hours and one Ready nano Component `app`; its namespace."""
    operator(hosting_period=str(period))
    ns = namespace("app")
    kube.apply_component(component_manifest("app", ns, org))
    ready(kube, ns, "app", 1)
    return ns


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
    ports = [free_port(), free_port()]
    ops = operator(hosting_period="2", operator_metrics_port=str(ports[0]))
    ops.start(TAWA_OPERATOR_METRICS_PORT=str(ports[1]))
    ns = namespace("app")
    kube_cluster.apply_component(component_manifest("app", ns, org, replicas=2))
    ready(kube_cluster, ns, "app", 2)
    generation = kube_cluster.deployment(ns, "app").metadata.generation
    eventually(lambda: len(hosting_events(wallet, org, f"{ns}/app")) >= 4, timeout=30, what="4 buckets charged")
    assert_one_charge_per_bucket(hosting_events(wallet, org, f"{ns}/app"), 2.0)
    assert kube_cluster.deployment(ns, "app").metadata.generation == generation

    # What a dashboard sums over the replicas is what the wallet took: a replica counts
    # only its own charges, not the wallet's replays of the other's.
    kube_cluster.custom.delete_namespaced_custom_object(API_GROUP, "v1", ns, PLURAL, "app")
    def adds_up() -> bool:
        counted = sum(hosting_tokens_counted(port, org) for port in ports)
        charged = sum(e.tokens for e in hosting_events(wallet, org, f"{ns}/app"))
        assert counted == charged > 0, f"the replicas counted {counted} tokens, the wallet charged {charged}"
        return True

    eventually(adds_up, timeout=10, what="the replicas' tawa_hosting_tokens_total adding up to the wallet's charges")


def hosting_tokens_counted(metrics_port: int, org: str) -> float:
    text = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).text
    return sum(sample.value for family in text_string_to_metric_families(text) for sample in family.samples
               if sample.name == "tawa_hosting_tokens_total" and sample.labels.get("org") == org)


def test_short_balance_sets_gas_exhausted_until_a_purchase_pays_the_missed_hours(
        kube_cluster: KubeCluster, namespace: Callable[[str], str], wallet: WalletServer, org: str,
        operator: Callable[..., OperatorProcess]) -> None:
    ns = running_app(kube_cluster, namespace, org, operator, 2.0)
    eventually(lambda: hosting_events(wallet, org, f"{ns}/app"), what="the first charge")
    drain(wallet, org, leave=3)  # less than one nano hour (5)

    exhausted = eventually(lambda: (c := kube_cluster.condition(ns, "app", "GasExhausted")) and
                           c["status"] == "True" and c, timeout=20, what="GasExhausted=True")
    assert exhausted["reason"] == "HostingUnpaid" and f"tawa wallet buy {org}" in exhausted["message"]
    events = [e for e in kube_cluster.events(ns, "app") if e.reason == "HostingUnpaid"]
    assert events and events[0].type == "Warning"
    assert kube_cluster.component(ns, "app")["status"]["unpaidTokens"] >= 5
    paid_before = len(hosting_events(wallet, org, f"{ns}/app"))

    time.sleep(4)  # two more buckets go unpaid
    # suspendAfter is off by default: unpaid hosting never scales anything down.
    assert replicas(kube_cluster, ns, "app") == 1
    assert "suspended" not in kube_cluster.component(ns, "app")["status"]
    assert not [e for e in kube_cluster.events(ns, "app") if e.reason == "Suspended"]
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
    ns = running_app(kube_cluster, namespace, org, operator, 2.0)
    eventually(lambda: len(hosting_events(wallet, org, f"{ns}/app")) >= 2, timeout=30, what="two charges")
    kube_cluster.custom.delete_namespaced_custom_object("tawa.insureco.io", "v1", ns, "components", "app")
    eventually(lambda: kube_cluster.deployment(ns, "app") is None, timeout=60, what="the Deployment to go")
    charged = len(hosting_events(wallet, org, f"{ns}/app"))
    time.sleep(6)  # three more buckets
    # The bucket running at deletion was paid at its start; nothing after it is charged.
    assert len(hosting_events(wallet, org, f"{ns}/app")) == charged


def test_suspend_after_scales_to_zero_until_a_purchase_pays_the_owed_hours(
        kube_cluster: KubeCluster, namespace: Callable[[str], str], wallet: WalletServer, org: str,
        operator: Callable[..., OperatorProcess]) -> None:
    ops = operator(hosting_period="2", suspend_after="4")
    ns = namespace("app")
    comp = component_manifest("app", ns, org)
    kube_cluster.apply_component(comp)
    ready(kube_cluster, ns, "app", 1)
    eventually(lambda: hosting_events(wallet, org, f"{ns}/app"), what="the first charge")
    drain(wallet, org, leave=3)  # less than one nano hour (5)

    exhausted = gas_exhausted(kube_cluster, ns, "app", "True")
    assert exhausted["reason"] == "HostingUnpaid" and "the Deployment is scaled to 0 at" in exhausted["message"]
    eventually(lambda: replicas(kube_cluster, ns, "app") == 0, timeout=30, what="the Deployment scaled to 0")
    assert time.time() - parse_iso(exhausted["lastTransitionTime"]) >= 4 - 1  # the grace (seconds resolution)
    component = kube_cluster.component(ns, "app")
    assert component["spec"] == comp["spec"]  # the spec is never touched
    held, owed = component["status"]["suspended"], component["status"]["unpaidTokens"]
    assert held["pods"] == 1 and owed >= 5 and owed % 5 == 0
    warning = eventually(lambda: [e for e in kube_cluster.events(ns, "app") if e.reason == "Suspended"],
                         what="the Suspended event")[0]
    assert warning.type == "Warning"
    for part in ("app scaled to 0 pods", f"wallet-{org} owes {owed:,} tokens", f"tawa wallet buy {org} {owed}",
                 "suspendAfter (4s)", "nothing is charged for the hours it has 0 pods"):
        assert part in warning.message, warning.message
    suspended_ready = eventually(lambda: (c := kube_cluster.condition(ns, "app", "Ready")) and
                                 c["reason"] == "Suspended" and c, what="Ready=False, reason Suspended")
    assert suspended_ready["status"] == "False"
    assert "suspended since" in kube_cluster.condition(ns, "app", "GasExhausted")["message"]  # type: ignore[index]

    # A restart, and a change that rolls out no pods (an env var), keep it at 0.
    ops.processes[-1].kill()
    ops.start()
    comp["spec"]["env"] = [{"name": "MODE", "value": "resumed"}]
    kube_cluster.apply_component(comp)

    def template_env() -> list[Any]:
        deployment = kube_cluster.deployment(ns, "app")
        return [] if deployment is None else deployment.spec.template.spec.containers[0].env or []
    eventually(lambda: any(v.name == "MODE" for v in template_env()), what="the env change applied")
    time.sleep(4)  # two buckets at 0 pods: nothing owed for them
    assert replicas(kube_cluster, ns, "app") == 0
    assert kube_cluster.component(ns, "app")["status"]["unpaidTokens"] == owed
    assert kube_cluster.component(ns, "app")["status"]["suspended"] == held

    purchased_at = time.time()
    wallet.client.purchase(org, 1000)
    eventually(lambda: replicas(kube_cluster, ns, "app") == 1, timeout=20, what="the Deployment scaled back")
    resumed = eventually(lambda: [e for e in kube_cluster.events(ns, "app") if e.reason == "Resumed"],
                         what="the Resumed event")[0]
    assert resumed.type == "Normal" and f"wallet-{org}" in resumed.message and "scaled back to 1 pod(s)" in \
        resumed.message
    cleared = gas_exhausted(kube_cluster, ns, "app", "False")
    assert cleared["reason"] == "HostingCharged"
    ready(kube_cluster, ns, "app", 1)
    status = kube_cluster.component(ns, "app")["status"]
    assert "suspended" not in status and status["unpaidTokens"] == 0
    assert any(v.name == "MODE" for v in template_env())

    # The owed hours were charged, none twice; the hours at 0 pods were not; charging goes on.
    last_hour = parse_bucket_id(held["lastHour"])
    resumed_bucket = bucket_start(purchased_at, 2.0)
    eventually(lambda: any(parse_bucket_id(e.details["hour"]) >= resumed_bucket
                           for e in hosting_events(wallet, org, f"{ns}/app")),
               timeout=20, what="a charge after resuming")
    events = hosting_events(wallet, org, f"{ns}/app")
    hours = [parse_bucket_id(e.details["hour"]) for e in events]
    assert not [h for h in hours if last_hour < h < resumed_bucket], [e.details["hour"] for e in events]
    assert_one_charge_per_bucket([e for e in events if parse_bucket_id(e.details["hour"]) <= last_hour], 2.0)
    assert len(hours) == len(set(hours))


def test_two_operators_suspend_and_resume_once_without_fighting(
        kube_cluster: KubeCluster, namespace: Callable[[str], str], wallet: WalletServer, org: str,
        operator: Callable[..., OperatorProcess]) -> None:
    ops = operator(hosting_period="2", suspend_after="2")
    ops.start()
    ns = namespace("app")
    kube_cluster.apply_component(component_manifest("app", ns, org))
    ready(kube_cluster, ns, "app", 1)
    eventually(lambda: hosting_events(wallet, org, f"{ns}/app"), what="the first charge")
    generation = kube_cluster.deployment(ns, "app").metadata.generation  # type: ignore[union-attr]
    drain(wallet, org, leave=3)

    eventually(lambda: replicas(kube_cluster, ns, "app") == 0, timeout=30, what="the Deployment scaled to 0")
    samples = []
    for _ in range(12):  # 6 s, three buckets: neither replica scales it back
        samples.append(replicas(kube_cluster, ns, "app"))
        time.sleep(0.5)
    assert samples == [0] * 12
    wallet.client.purchase(org, 1000)
    eventually(lambda: replicas(kube_cluster, ns, "app") == 1, timeout=20, what="the Deployment scaled back")
    samples = []
    for _ in range(8):  # neither replica suspends it again from a stale view
        samples.append(replicas(kube_cluster, ns, "app"))
        time.sleep(0.5)
    assert samples == [1] * 8
    # One scale down, one scale up: no flapping in between.
    assert kube_cluster.deployment(ns, "app").metadata.generation == generation + 2  # type: ignore[union-attr]
    gas_exhausted(kube_cluster, ns, "app", "False")
    assert "suspended" not in kube_cluster.component(ns, "app")["status"]
    hours = [e.details["hour"] for e in hosting_events(wallet, org, f"{ns}/app")]
    assert len(hours) == len(set(hours)), hours


def scale(kube: KubeCluster, ns: str, name: str, pods: int) -> float:
    """The owner scales the Deployment (kubectl scale); returns once the Component's status
    shows that many Ready pods. (Not through spec.replicas: 0 is refused by the gate, see
    test_a_component_scaled_to_zero_through_its_spec_gets_a_deployment_at_zero.)"""
    kube.apps.patch_namespaced_deployment_scale(name, ns, {"spec": {"replicas": pods}})
    ready(kube, ns, name, pods)
    return time.time()


def assert_idle_buckets_not_charged(events: list[GasEvent], idle_from: float, idle_to: float,
                                    period: float) -> None:
    """No charge for a bucket that began after the status showed 0 Ready pods and ended before
    the pods were asked back: nothing ran in it. One charge for each bucket before and after."""
    down, up = bucket_start(idle_from, period), bucket_start(idle_to, period)
    assert up - down >= 2 * period, "the test kept the Component at 0 pods for less than a whole bucket"
    hours = [e.details["hour"] for e in events]
    assert not [h for h in hours if down < parse_bucket_id(h) < up], f"hours at 0 pods charged: {hours}"
    before = [e for e in events if parse_bucket_id(e.details["hour"]) <= down]
    after = [e for e in events if parse_bucket_id(e.details["hour"]) >= up]
    assert_one_charge_per_bucket(before, period)
    assert_one_charge_per_bucket(after, period)
    assert after and parse_bucket_id(after[0].details["hour"]) <= up + period, f"pods back, not charged: {hours}"


def idle_hours(kube: KubeCluster, ns: str, name: str) -> list[dict[str, str]]:
    found: list[dict[str, str]] = kube.component(ns, name)["status"].get("idleHours", [])
    return found


def test_hours_scaled_to_zero_are_not_charged_when_pods_return(
        kube_cluster: KubeCluster, namespace: Callable[[str], str], wallet: WalletServer, org: str,
        operator: Callable[..., OperatorProcess]) -> None:
    period = 2.0
    ns = running_app(kube_cluster, namespace, org, operator, period)
    eventually(lambda: len(hosting_events(wallet, org, f"{ns}/app")) >= 2, timeout=30, what="two charges")

    idle_from = scale(kube_cluster, ns, "app", 0)
    time.sleep(4 * period)  # four buckets with no pods
    # What `kubectl describe` shows: the hours at 0 pods, never charged.
    stretch = idle_hours(kube_cluster, ns, "app")
    assert len(stretch) == 1 and parse_bucket_id(stretch[0]["from"]) <= bucket_start(idle_from, period) + period
    idle_to = time.time()
    scale(kube_cluster, ns, "app", 1)
    eventually(lambda: any(parse_bucket_id(e.details["hour"]) >= bucket_start(idle_to, period) + 2 * period
                           for e in hosting_events(wallet, org, f"{ns}/app")), timeout=30,
               what="charges after the pods came back")

    events = hosting_events(wallet, org, f"{ns}/app")
    assert_idle_buckets_not_charged(events, idle_from, idle_to, period)
    assert all(e.tokens == 5 and e.details["pods"] == 1 for e in events)
    assert wallet.client.get_wallet(org).balances.intro == 50_000 - sum(e.tokens for e in events)
    eventually(lambda: not idle_hours(kube_cluster, ns, "app"), what="idleHours gone once charged past them")


def test_unpaid_hours_with_pods_stay_owed_while_the_hours_at_zero_pods_are_not(
        kube_cluster: KubeCluster, namespace: Callable[[str], str], wallet: WalletServer, org: str,
        operator: Callable[..., OperatorProcess]) -> None:
    period = 2.0
    ns = running_app(kube_cluster, namespace, org, operator, period)
    eventually(lambda: hosting_events(wallet, org, f"{ns}/app"), what="the first charge")
    drain(wallet, org, leave=3)  # less than one nano hour (5)
    gas_exhausted(kube_cluster, ns, "app", "True")
    time.sleep(2 * period)  # more unpaid hours, with a pod

    idle_from = scale(kube_cluster, ns, "app", 0)  # the owner stops it while it owes
    time.sleep(4 * period)
    wallet.client.purchase(org, 1000)
    idle_to = time.time()
    scale(kube_cluster, ns, "app", 1)
    gas_exhausted(kube_cluster, ns, "app", "False")
    eventually(lambda: any(parse_bucket_id(e.details["hour"]) >= bucket_start(idle_to, period) + period
                           for e in hosting_events(wallet, org, f"{ns}/app")), timeout=30,
               what="charges after the pods came back")

    # Every hour with a pod is charged once, the unpaid ones included; none of those at 0 pods.
    events = hosting_events(wallet, org, f"{ns}/app")
    assert_idle_buckets_not_charged(events, idle_from, idle_to, period)
    assert len([e for e in events if parse_bucket_id(e.details["hour"]) <= bucket_start(idle_from, period)]) >= 4
    assert kube_cluster.component(ns, "app")["status"]["unpaidTokens"] == 0

def test_hours_at_zero_pods_stay_uncharged_across_an_operator_restart(
        kube_cluster: KubeCluster, namespace: Callable[[str], str], wallet: WalletServer, org: str,
        operator: Callable[..., OperatorProcess]) -> None:
    period = 6.0  # long enough for a restart to fit inside one bucket
    ops = operator(hosting_period=str(period))
    ns = namespace("app")
    kube_cluster.apply_component(component_manifest("app", ns, org))
    ready(kube_cluster, ns, "app", 1)
    eventually(lambda: hosting_events(wallet, org, f"{ns}/app"), what="the first charge")

    idle_from = scale(kube_cluster, ns, "app", 0)

    def recorded_early_in_its_bucket() -> bool:
        now = time.time()
        stretch = idle_hours(kube_cluster, ns, "app")
        return bool(stretch) and parse_bucket_id(stretch[-1]["through"]) == bucket_start(now, period) and \
            now - bucket_start(now, period) < 1.5
    eventually(recorded_early_in_its_bucket, timeout=3 * period, what="a bucket recorded idle at its start")
    killed_in = bucket_start(time.time(), period)
    ops.processes[-1].kill()  # what it knew in memory is gone; the status is all the next one has
    ops.start()
    # Two more buckets: the second is recorded by the restarted operator and ends at 0 pods too.
    eventually(lambda: parse_bucket_id(idle_hours(kube_cluster, ns, "app")[-1]["through"]) >= killed_in + 2 * period,
               timeout=4 * period, what="the restarted operator recording buckets idle")
    idle_to = time.time()
    scale(kube_cluster, ns, "app", 1)
    eventually(lambda: any(parse_bucket_id(e.details["hour"]) >= bucket_start(idle_to, period) + period
                           for e in hosting_events(wallet, org, f"{ns}/app")), timeout=4 * period,
               what="charges after the pods came back")

    events = hosting_events(wallet, org, f"{ns}/app")
    assert_idle_buckets_not_charged(events, idle_from, idle_to, period)
    assert wallet.client.get_wallet(org).balances.intro == 50_000 - sum(e.tokens for e in events)


def test_a_component_scaled_to_zero_through_its_spec_gets_a_deployment_at_zero(
        kube_cluster: KubeCluster, namespace: Callable[[str], str], wallet: WalletServer, org: str,
        operator: Callable[..., OperatorProcess]) -> None:
    operator()
    ns = namespace("app")
    comp = component_manifest("app", ns, org)
    kube_cluster.apply_component(comp)
    ready(kube_cluster, ns, "app", 1)
    comp["spec"]["replicas"] = 0
    kube_cluster.apply_component(comp)
    eventually(lambda: replicas(kube_cluster, ns, "app") == 0, timeout=15, what="the Deployment at 0 replicas")
    gate = kube_cluster.condition(ns, "app", "DeployGate")
    assert gate["status"] == "True" and gate["message"] == f"0 replicas: no reserve is needed from wallet-{org}"


def test_hosting_is_charged_at_the_tier_that_runs_not_a_refused_raise(
        kube_cluster: KubeCluster, namespace: Callable[[str], str], wallet: WalletServer, org: str,
        operator: Callable[..., OperatorProcess]) -> None:
    """A nano app whose raise to xlarge the gate refused keeps nano pods: it pays nano's 5 an hour, not 83."""
    ns = running_app(kube_cluster, namespace, org, operator, period=2)
    kube_cluster.apply_component(component_manifest("app", ns, org, tier="xlarge"))
    eventually(lambda: (c := kube_cluster.condition(ns, "app", "DeployGate")) and c["status"] == "False",
               timeout=30, what="the gate refuses xlarge")
    closed_at = time.time()
    eventually(lambda: sum(parse_bucket_id(e.details["hour"]) > closed_at + 2
                           for e in hosting_events(wallet, org, f"{ns}/app")) >= 2,
               timeout=30, what="two charges after the refused raise")
    events = hosting_events(wallet, org, f"{ns}/app")
    assert_one_charge_per_bucket(events, 2.0)
    assert {(e.tokens, e.details["tier"]) for e in events} == {(5, "nano")}
    assert kube_cluster.component(ns, "app")["status"]["runningTier"] == "nano"
