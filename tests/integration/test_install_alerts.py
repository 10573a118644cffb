"""The chart's PrometheusRule, checked and run by Prometheus's own `promtool`:
`check rules` parses every expression, and `test rules` feeds series shaped like
the programs' metrics through the alerts and says which fire, when, with which
labels and text.

promtool is built from the Prometheus Go module and cached like helm and the
control plane (once; it is a large build).
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tawa.devcluster.build import KUBERNETES_VERSION, build_go_install, cache_root, ensure_helm

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "tawa"
PROMETHEUS_MODULE_VERSION = "v0.316.0"  # Prometheus 3.x's Go module version


@pytest.fixture(scope="session")
def promtool() -> Path:
    out = cache_root() / f"promtool-{PROMETHEUS_MODULE_VERSION}" / "bin"
    if not (out / "promtool").exists():
        out.mkdir(parents=True, exist_ok=True)
        build_go_install("github.com/prometheus/prometheus/cmd/promtool", PROMETHEUS_MODULE_VERSION, out)
    return out / "promtool"


@pytest.fixture(scope="module")
def rules_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The `spec` of the PrometheusRule the chart renders, as a Prometheus rule file."""
    done = subprocess.run([str(ensure_helm()), "template", "tawa", str(CHART), "--namespace", "tawa-system",
                           "--kube-version", KUBERNETES_VERSION, "--set", "monitoring.prometheusRule.enabled=true",
                           "--set", "operator.watchNamespaces={docman-prod}",
                           "--show-only", "templates/prometheusrule.yaml"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    rule = yaml.safe_load(done.stdout)
    path = tmp_path_factory.mktemp("rules") / "tawa-rules.yaml"
    path.write_text(yaml.safe_dump(rule["spec"], sort_keys=False))
    return path


def run_promtool(promtool: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(promtool), *args], capture_output=True, text=True, timeout=120)


def test_promtool_checks_every_rule(promtool: Path, rules_file: Path) -> None:
    done = run_promtool(promtool, "check", "rules", "--lint=all", "--lint-fatal", str(rules_file))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 7 rules found" in done.stdout, done.stdout


COMPONENT = 'namespace="docman-prod", component="docman", org="insureco"'


def alert(name: str, at: str, *expected: dict[str, Any]) -> dict[str, Any]:
    return {"eval_time": at, "alertname": name, "exp_alerts": list(expected)}


def fired(labels: dict[str, str], summary: str, description: str) -> dict[str, Any]:
    return {"exp_labels": labels, "exp_annotations": {"summary": summary, "description": description}}


UNIT_TESTS: list[dict[str, Any]] = [
    {   # Runway: 25 days warns, 4 days is critical, 200 days is fine.
        "interval": "1m",
        "input_series": [
            {"series": 'tawa_org_runway_hours{org="acme"}', "values": "600x90"},
            {"series": 'tawa_org_runway_hours{org="poor"}', "values": "96x90"},
            {"series": 'tawa_org_runway_hours{org="rich"}', "values": "4800x90"},
        ],
        "alert_rule_test": [
            alert("TawaOrgRunwayLow", "20m"),  # `for: 30m` not yet over
            alert("TawaOrgRunwayLow", "40m",
                  fired({"severity": "warning", "org": "acme"}, "Org acme has less than 30 days of gas left.",
                        "At its current hosting burn rate, wallet-acme runs dry in 600 hours. When it does, hosting "
                        "charges go unpaid (GasExhausted) and new deploys are refused by the gate. Buy tokens (tawa "
                        "wallet buy acme) or lower tiers/replicas."),
                  fired({"severity": "warning", "org": "poor"}, "Org poor has less than 30 days of gas left.",
                        "At its current hosting burn rate, wallet-poor runs dry in 96 hours. When it does, hosting "
                        "charges go unpaid (GasExhausted) and new deploys are refused by the gate. Buy tokens (tawa "
                        "wallet buy poor) or lower tiers/replicas.")),
            alert("TawaOrgRunwayCritical", "40m",
                  fired({"severity": "critical", "org": "poor"}, "Org poor has less than 7 days of gas left.",
                        "wallet-poor runs dry in 96 hours at the current burn rate. Buy tokens now "
                        "(tawa wallet buy poor).")),
        ],
    },
    {   # GasExhausted: one Component unpaid, another paid up.
        "interval": "1m",
        "input_series": [
            {"series": f"tawa_component_gas_exhausted{{{COMPONENT}}}", "values": "0 0 1x10"},
            {"series": 'tawa_component_gas_exhausted{namespace="quotes-prod", component="quotes", org="acme"}',
             "values": "0x12"},
        ],
        "alert_rule_test": [
            alert("TawaGasExhausted", "2m"),
            alert("TawaGasExhausted", "5m",
                  fired({"severity": "critical", "namespace": "docman-prod", "component": "docman", "org": "insureco"},
                        "Component docman-prod/docman cannot pay its hosting gas.",
                        "The hourly hosting charge for docman-prod/docman was refused: wallet-insureco is empty "
                        "(condition GasExhausted=True, reason HostingUnpaid; see kubectl describe comp docman -n "
                        "docman-prod). Buy tokens to pay the unpaid hours.")),
        ],
    },
    {   # The deploy gate: closed 50 minutes is not yet an alert, closed over an hour is.
        "interval": "1m",
        "input_series": [
            {"series": f"tawa_component_gate_open{{{COMPONENT}}}", "values": "0x90"},
            {"series": 'tawa_component_gate_open{namespace="quotes-prod", component="quotes", org="acme"}',
             "values": "0x30 1x60"},
        ],
        "alert_rule_test": [
            alert("TawaDeployGateClosed", "50m"),
            alert("TawaDeployGateClosed", "70m",
                  fired({"severity": "warning", "namespace": "docman-prod", "component": "docman", "org": "insureco"},
                        "The deploy gate of docman-prod/docman has been closed for over 1h.",
                        "wallet-insureco does not cover the 3-month reserve of this Component, so its change is not "
                        "rolled out (an older version keeps running). kubectl describe comp docman -n docman-prod "
                        "shows the balance, the requirement and the shortfall; buy tokens or lower the tier.")),
        ],
    },
    {   # Fail-open: 10 a minute is a burst, 1 a minute (elsewhere) is not.
        "interval": "1m",
        "input_series": [
            {"series": 'janus_fail_open_total{namespace="janus-prod", pod="janus-a", service="docman"}',
             "values": "0+10x20"},
            {"series": 'janus_fail_open_total{namespace="janus-stage", pod="janus-b", service="docman"}',
             "values": "0+1x20"},
        ],
        "alert_rule_test": [
            alert("JanusFailOpenBurst", "10m",
                  fired({"severity": "warning", "namespace": "janus-prod"},
                        "Janus forwarded 50 unbilled requests in 5 minutes.",
                        "Janus in janus-prod cannot reach the wallet and fails open: calls are forwarded and their "
                        "charges spooled until the wallet returns (each org up to its fail-open cap). Check the "
                        "wallet's pods and the network between Janus and the wallet.")),
        ],
    },
    {   # Spooled charges that do not drain.
        "interval": "1m",
        "input_series": [
            {"series": 'janus_spool_pending{namespace="janus-prod", pod="janus-a"}', "values": "4x30"},
            {"series": 'janus_spool_pending{namespace="janus-prod", pod="janus-b"}', "values": "4 0x29"},
        ],
        "alert_rule_test": [
            alert("JanusSpoolBacklog", "20m",
                  fired({"severity": "warning", "namespace": "janus-prod", "pod": "janus-a"},
                        "Janus pod janus-a has had unsettled charges for 15 minutes.",
                        "4 charges wait in the local spool of janus-a. They settle when the wallet is reachable "
                        "again; they are lost if the pod is deleted first.")),
        ],
    },
    {   # Wallet 5xx: 10% of requests.
        "interval": "1m",
        "input_series": [
            {"series": 'wallet_http_requests_total{namespace="tawa-system", method="POST", route="/v1/holds", '
                       'status="200"}', "values": "0+90x30"},
            {"series": 'wallet_http_requests_total{namespace="tawa-system", method="POST", route="/v1/holds", '
                       'status="503"}', "values": "0+10x30"},
        ],
        "alert_rule_test": [
            alert("TawaWalletErrors", "5m"),
            alert("TawaWalletErrors", "20m",
                  fired({"severity": "critical", "namespace": "tawa-system"},
                        "More than 5% of wallet requests fail with 5xx.",
                        "The wallet in tawa-system answers 10% of its requests with a server error: deploys fail "
                        "closed and Janus fails open. Check its database (SQLite volume or PostgreSQL).")),
        ],
    },
]


def test_alerts_fire_when_and_only_when_they_should(promtool: Path, rules_file: Path) -> None:
    tests = rules_file.parent / "tawa-rules.test.yaml"
    tests.write_text(yaml.safe_dump({"rule_files": [rules_file.name], "evaluation_interval": "1m",
                                     "tests": UNIT_TESTS}, sort_keys=False))
    done = run_promtool(promtool, "test", "rules", str(tests))
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_dashboard_query_parses(promtool: Path, tmp_path: Path) -> None:
    """Each panel's PromQL, with Grafana's variables filled in, as a recording rule for promtool."""
    import json

    dashboard = json.loads((CHART / "dashboards" / "tawa.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    exprs += [v["query"]["query"].replace("label_values(", "group by (org) (").replace(", org)", ")")
              for v in dashboard["templating"]["list"] if isinstance(v.get("query"), dict)]
    assert len(exprs) >= 20
    rules = [{"record": f"tawa:dashboard_query_{i}:value",
              "expr": e.replace("$__rate_interval", "5m").replace("$org", ".*")} for i, e in enumerate(exprs)]
    path = tmp_path / "dashboard-queries.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    done = run_promtool(promtool, "check", "rules", str(path))
    assert done.returncode == 0, done.stdout + done.stderr
