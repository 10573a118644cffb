"""`tawa deploy` and `tawa status` against the real control plane, wallet and operator."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from kubernetes.client.exceptions import ApiException

from tests.fixtures.cluster import KubeCluster, OperatorProcess
from tests.fixtures.wallet import WalletServer

pytestmark = pytest.mark.cluster
EXAMPLES = Path(__file__).parents[2] / "examples"


@pytest.fixture
def tawa(kube_cluster: KubeCluster, wallet: WalletServer, operator: Callable[..., OperatorProcess]):  # type: ignore[no-untyped-def]
    """Run the CLI as a user would, in a unique environment (namespaces {service}-{env})."""
    operator(gate_retry_max="1", hosting_period="5")
    env_name = f"e{uuid.uuid4().hex[:6]}"
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("TAWA_")},
           "KUBECONFIG": str(kube_cluster.kubeconfig), "TAWA_WALLET_URL": wallet.url,
           "TAWA_WALLET_TOKEN": wallet.token, "TAWA_ENV": env_name}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "tawa.cli.main", *args], capture_output=True, text=True,
                              env=env, timeout=120)

    run.env_name = env_name  # type: ignore[attr-defined]
    yield run
    for name in ("docman", "analytics"):
        try:
            kube_cluster.core.delete_namespace(f"{name}-{env_name}")
        except ApiException:
            pass


def test_deploy_waits_until_running(tawa, wallet: WalletServer, kube_cluster: KubeCluster) -> None:  # type: ignore[no-untyped-def]
    wallet.client.create_wallet("insureco")
    result = tawa("deploy", str(EXAMPLES / "docman.yaml"), "--image", "registry.local/docman:1.4.2")
    assert result.returncode == 0, result.stderr
    ns = f"docman-{tawa.env_name}"
    assert result.stdout.strip() == f"{ns}/docman is running (1 × small)"
    dep = kube_cluster.apps.read_namespaced_deployment("docman", ns)
    assert dep.status.available_replicas == 1

    status = json.loads(tawa("status", "--org", "insureco", "--json").stdout)
    mine = [c for c in status["components"] if c["namespace"] == ns]
    assert mine == [{"namespace": ns, "name": "docman", "tier": "small", "gate": "ReserveCovered", "ready": "1/1",
                     "tokensPerHour": 10}]
    assert status["wallet"]["balances"]["intro"] <= 50_000


def test_deploy_blocked_by_the_gate_exits_1_with_the_message(tawa, wallet: WalletServer) -> None:  # type: ignore[no-untyped-def]
    wallet.client.create_wallet("startupco")
    dry = tawa("deploy", str(EXAMPLES / "analytics.yaml"), "--image", "registry.local/a:1", "--dry-run", "--json")
    assert dry.returncode == 1
    report = json.loads(dry.stdout)
    assert report | {"runwayDays": None} == {
        "service": "analytics", "owner": "startupco", "tier": "medium", "replicas": 1, "tokensPerHour": 23,
        "tokensPerMonth": 16_790, "reserve": 50_370, "balance": 50_000, "shortfall": 370, "gateOpen": False,
        "otherTokensPerHour": 0, "orgTokensPerHour": 23, "runwayDays": None}
    assert report["runwayDays"] == round(50_000 / 23 / 24, 1)

    result = tawa("deploy", str(EXAMPLES / "analytics.yaml"), "--image", "registry.local/a:1")
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"error: analytics-{tawa.env_name}/analytics: InsufficientReserve: deploy blocked: wallet-startupco holds "
        "50,000 tokens but 1 × medium pod(s) (23/hour each) need a 3-month reserve of 50,370; 370 short. Buy at "
        "least 370 tokens (tawa wallet buy startupco 370) or lower metadata.annotations[\"insureco.io/pod-tier\"]; "
        "the gate reopens by itself once covered")

    bought = tawa("wallet", "buy", "startupco", "370")
    assert bought.returncode == 0, bought.stderr
    again = tawa("deploy", str(EXAMPLES / "analytics.yaml"), "--image", "registry.local/a:1")
    assert again.returncode == 0, again.stderr


def test_deploy_of_an_invalid_file_exits_2_before_touching_the_cluster(tawa, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "catalog-info.yaml"
    bad.write_text((EXAMPLES / "docman.yaml").read_text().replace("pod-tier: small", "pod-tier: huge"))
    result = tawa("deploy", str(bad), "--image", "x:1")
    assert result.returncode == 2
    assert 'metadata.annotations["insureco.io/pod-tier"]: unknown pod tier \'huge\'' in result.stderr


def _own_docman(wallet: WalletServer, path: Path, *replace: tuple[str, str]) -> Path:
    """docman.yaml owned by a fresh org: no other test's Components share its wallet."""
    org = f"org-{uuid.uuid4().hex[:8]}"
    wallet.client.create_wallet(org)
    text = (EXAMPLES / "docman.yaml").read_text().replace("owner: insureco", f"owner: {org}")
    for old, new in replace:
        text = text.replace(old, new)
    path.write_text(text)
    return path


def test_deploy_answers_each_tier_change_it_applies(tawa, wallet: WalletServer, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The tier is an annotation (no new generation): each deploy waits for the operator's
    answer to its own tier, not the status of the previous one."""
    ns = f"docman-{tawa.env_name}"
    small = _own_docman(wallet, tmp_path / "small.yaml")
    xlarge = tmp_path / "xlarge.yaml"
    xlarge.write_text(small.read_text().replace("pod-tier: small", "pod-tier: xlarge"))
    org = yaml.safe_load(small.read_text())["spec"]["owner"]
    assert tawa("deploy", str(small), "--image", "registry.local/docman:1").returncode == 0

    raised = tawa("deploy", str(xlarge), "--image", "registry.local/docman:1")
    assert raised.returncode == 1, raised.stdout
    assert "InsufficientReserve" in raised.stderr and "1 × xlarge pod(s)" in raised.stderr

    lowered = tawa("deploy", str(small), "--image", "registry.local/docman:1")
    assert lowered.returncode == 0, lowered.stderr
    assert lowered.stdout.strip() == f"{ns}/docman is running (1 × small)"

    assert tawa("deploy", str(xlarge), "--image", "registry.local/docman:1").returncode == 1
    wallet.client.purchase(org, 200_000)
    bought = tawa("deploy", str(xlarge), "--image", "registry.local/docman:1")
    assert bought.returncode == 0, bought.stderr
    assert bought.stdout.strip() == f"{ns}/docman is running (1 × xlarge)"


def test_deploy_with_an_empty_image_applies_nothing(tawa, kube_cluster: KubeCluster) -> None:  # type: ignore[no-untyped-def]
    result = tawa("deploy", str(EXAMPLES / "docman.yaml"), "--image", "")
    assert result.returncode == 2
    assert "spec.image: is required to run pods" in result.stderr and "nothing was applied" in result.stderr
    with pytest.raises(ApiException) as missing:
        kube_cluster.component(f"docman-{tawa.env_name}", "docman")
    assert missing.value.status == 404


def test_dry_run_runway_counts_what_the_org_already_burns(tawa, wallet: WalletServer, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    docman = _own_docman(wallet, tmp_path / "docman.yaml")
    assert tawa("deploy", str(docman), "--image", "registry.local/docman:1").returncode == 0
    other = tmp_path / "catalog-info.yaml"
    other.write_text(docman.read_text().replace("name: docman\n", "name: docarchive\n", 1))
    dry = tawa("deploy", str(other), "--image", "registry.local/docarchive:1", "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    report = json.loads(dry.stdout)
    assert (report["service"], report["tokensPerHour"], report["otherTokensPerHour"]) == ("docarchive", 10, 10)
    assert report["orgTokensPerHour"] == 20
    assert report["runwayDays"] == round(report["balance"] / 20 / 24, 1)
    text = tawa("deploy", str(other), "--image", "registry.local/docarchive:1", "--dry-run")
    assert "at 20 tokens/hour with the 10 tokens/hour its other Components burn" in text.stdout
