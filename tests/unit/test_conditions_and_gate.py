"""Status conditions and the gate messages a service owner reads."""

from __future__ import annotations

from tawa.catalog.validate import check_component
from tawa.controller import children, gate
from tawa.controller.conditions import Condition, merge_conditions


def test_transition_time_moves_only_when_status_flips() -> None:
    first = merge_conditions([], [Condition("Ready", False, "NoDeployment", "none")], 1)
    old = dict(first[0], lastTransitionTime="2020-01-01T00:00:00Z")
    same = merge_conditions([old], [Condition("Ready", False, "PodsNotReady", "0/1")], 2)
    assert same[0]["lastTransitionTime"] == "2020-01-01T00:00:00Z" and same[0]["observedGeneration"] == 2
    flipped = merge_conditions([old], [Condition("Ready", True, "PodsReady", "1/1")], 2)
    assert flipped[0]["lastTransitionTime"] != "2020-01-01T00:00:00Z" and flipped[0]["status"] == "True"


def test_insufficient_reserve_message_names_everything_needed() -> None:
    component = check_component("analytics", {"insureco.io/pod-tier": "medium"}, {"owner": "startupco"})
    verdict = gate.insufficient_reserve(component, "wallet-startupco", 50_000, 50_370, 370)
    assert (verdict.type, verdict.status, verdict.reason) == ("DeployGate", False, "InsufficientReserve")
    for part in ("wallet-startupco", "50,000", "50,370", "370 short", "tawa wallet buy startupco 370",
                 'metadata.annotations["insureco.io/pod-tier"]'):
        assert part in verdict.message


def test_retry_backoff_is_capped() -> None:
    assert [gate.retry_delay(r, 60) for r in range(8)] == [1, 2, 4, 8, 16, 32, 60, 60]


def test_deployment_carries_tier_memory_labels_owner_and_env() -> None:
    component = check_component("docman", {"insureco.io/pod-tier": "large"},
                                {"owner": "insureco", "image": "img:1", "replicas": 2, "port": 8080})
    dep = children.deployment(component, "docman-prod", "uid-1", {"A_URL": "http://a"})
    container = dep["spec"]["template"]["spec"]["containers"][0]
    assert container["resources"] == {"requests": {"memory": "2Gi"}, "limits": {"memory": "2Gi"}}
    assert container["env"] == [{"name": "A_URL", "value": "http://a"}]
    assert dep["spec"]["replicas"] == 2 and container["ports"][0]["containerPort"] == 8080
    assert dep["metadata"]["ownerReferences"][0]["uid"] == "uid-1"
    assert dep["spec"]["template"]["metadata"]["labels"]["tawa.insureco.io/tier"] == "large"
    assert children.rollout_fields(dep) == ("img:1", "large", 2)


def test_a_closed_gate_is_rechecked_once_its_reason_may_no_longer_hold() -> None:
    # InsufficientReserve stands while the balance is the one it was decided on.
    assert gate.still_closed("InsufficientReserve", 50_000, 50_000)
    assert not gate.still_closed("InsufficientReserve", 50_000, 50_370)  # a purchase
    assert not gate.still_closed("InsufficientReserve", 50_000, 49_977)  # a charge: checked, stays closed
    assert not gate.still_closed("InsufficientReserve", None, 50_000)  # decided by another process
    assert not gate.still_closed("InsufficientReserve", 50_000, None)  # the wallet is gone: say so
    assert gate.still_closed("WalletNotFound", None, None)
    assert not gate.still_closed("WalletNotFound", None, 50_000)  # the org's wallet was created
    assert not gate.still_closed("WalletUnavailable", None, 50_000)  # the wallet answers again


def test_an_invalid_spec_shows_a_shut_gate_that_was_not_checked() -> None:
    verdict = gate.not_checked()
    assert (verdict.type, verdict.status, verdict.reason) == ("DeployGate", False, "InvalidSpec")
    assert verdict.reason not in gate.CLOSED_REASONS  # nothing for the gate watcher to re-check
