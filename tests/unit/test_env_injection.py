"""Each row of the env-injection table in docs/design.md."""

from __future__ import annotations

from tawa.catalog.env import TargetService, container_env, env_var_name, pick_target, plan_env
from tawa.catalog.models import ComponentSpec, EnvVar


def spec(**fields: object) -> ComponentSpec:
    return ComponentSpec.model_validate({"owner": "insureco", **fields})


def test_variable_names_upper_case_with_underscores() -> None:
    assert env_var_name("docman") == "DOCMAN_URL"
    assert env_var_name("iec-wallet") == "IEC_WALLET_URL"


def test_direct_is_the_default_and_uses_the_service_namespace_rule() -> None:
    plan = plan_env(spec(internalDependencies=[{"service": "docman"}]), "prod")
    assert plan.variables == {"DOCMAN_URL": "http://docman.docman-prod.svc.cluster.local:3000"}
    assert plan.notices == ()


def test_direct_uses_the_entry_port_without_a_target() -> None:
    plan = plan_env(spec(dependencies=[{"service": "billing", "port": 8080}]), "staging")
    assert plan.variables["BILLING_URL"] == "http://billing.billing-staging.svc.cluster.local:8080"


def test_direct_prefers_the_target_component_namespace_and_port() -> None:
    lookup = {"docman": TargetService("documents", 8443)}.get
    plan = plan_env(spec(dependencies=[{"service": "docman", "port": 1}]), "prod", lookup)
    assert plan.variables["DOCMAN_URL"] == "http://docman.documents.svc.cluster.local:8443"


def test_janus_transport_points_at_the_proxy_and_ignores_the_port_with_a_warning() -> None:
    plan = plan_env(spec(dependencies=[{"service": "raterspot", "transport": "janus", "port": 9000}]), "prod")
    assert plan.variables == {"RATERSPOT_URL": "http://janus.janus-prod.svc.cluster.local:3000/proxy/raterspot"}
    assert [n.reason for n in plan.notices] == ["PortIgnored"]
    assert "port 9000 is ignored" in plan.notices[0].message and "spec.dependencies[0]" in plan.notices[0].message


def test_gateway_transport_injects_nothing() -> None:
    assert plan_env(spec(dependencies=[{"service": "portal", "transport": "gateway"}]), "prod").variables == {}


def test_platform_service_on_janus_warns() -> None:
    plan = plan_env(spec(internalDependencies=[{"service": "iec-wallet", "transport": "janus"}]), "prod")
    assert plan.variables["IEC_WALLET_URL"].endswith("/proxy/iec-wallet")
    assert [n.reason for n in plan.notices] == ["PlatformServiceMetered"]


def test_platform_services_are_a_setting() -> None:
    plan = plan_env(spec(internalDependencies=[{"service": "docman", "transport": "janus"}]), "prod",
                    platform_services=["docman"])
    assert [n.reason for n in plan.notices] == ["PlatformServiceMetered"]


def test_identical_duplicates_merge_into_one_variable() -> None:
    plan = plan_env(spec(internalDependencies=[{"service": "docman", "transport": "janus"}],
                         dependencies=[{"service": "docman", "transport": "janus"}]), "prod")
    assert list(plan.variables) == ["DOCMAN_URL"]


def test_variables_come_sorted_and_explicit_env_wins() -> None:
    plan = plan_env(spec(dependencies=[{"service": "zeta"}, {"service": "alpha"}]), "prod")
    assert list(plan.variables) == ["ALPHA_URL", "ZETA_URL"]
    env = container_env(plan.variables, [EnvVar(name="ZETA_URL", value="http://mock"), EnvVar(name="X", value="1")])
    assert env == [{"name": "ALPHA_URL", "value": "http://alpha.alpha-prod.svc.cluster.local:3000"},
                   {"name": "ZETA_URL", "value": "http://mock"}, {"name": "X", "value": "1"}]


def test_several_targets_of_one_name_prefer_the_env_namespace_then_the_callers() -> None:
    prod, mine, other = TargetService("docman-prod", 1), TargetService("team-a", 2), TargetService("team-b", 3)
    assert pick_target("docman", "prod", "team-a", [other]) == other
    assert pick_target("docman", "prod", "team-a", [other, prod, mine]) == prod
    assert pick_target("docman", "prod", "team-a", [other, mine]) == mine
    assert pick_target("docman", "prod", "team-c", [other, mine]) is None
