"""The operator run from the image against the local control plane, with the wallet in a container too."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from tawa.devcluster.processes import free_port
from tawa.wallet.client import WalletClient
from tests.container.conftest import READY_BOUND, StartContainer, volume_dir
from tests.container.test_image import DATA
from tests.fixtures.cluster import KubeCluster, component_manifest, eventually

pytestmark = pytest.mark.cluster


def readable_kubeconfig(kube: KubeCluster, root: Path) -> Path:
    """The cluster's kubeconfig (token and CA inline) in a directory the image's user can read."""
    directory = root / "kube"
    directory.mkdir()
    (directory / "kubeconfig").write_text(kube.kubeconfig.read_text())
    (directory / "kubeconfig").chmod(0o644)
    return directory


def test_operator_from_the_image_deploys_and_keeps_a_closed_gate_closed(
        containers: StartContainer, kube_cluster: KubeCluster, namespace: Callable[[str], str],
        tmp_path: Path) -> None:
    token = uuid.uuid4().hex
    wallet_port = free_port()
    wallet_url = f"http://127.0.0.1:{wallet_port}"
    containers(["wallet", "serve", "--host", "127.0.0.1", "--port", str(wallet_port)],
               env={"TAWA_WALLET_TOKEN": token, "TAWA_WALLET_DATABASE_URL": f"sqlite:///{DATA}/wallet.db"},
               volumes={volume_dir(tmp_path, "wallet"): DATA}).wait_ready(f"{wallet_url}/healthz")
    org = f"org-{uuid.uuid4().hex[:8]}"
    WalletClient(wallet_url, token).create_wallet(org)  # 50,000 intro tokens: nano yes, medium no

    liveness = free_port()
    operator = containers(["operator", "run", "--liveness", f"http://127.0.0.1:{liveness}/healthz",
                           "--metrics-port", str(free_port())],
                          env={"KUBECONFIG": "/etc/tawa/kube/kubeconfig", "TAWA_ENV": "prod",
                               "TAWA_WALLET_URL": wallet_url, "TAWA_WALLET_TOKEN": token,
                               "TAWA_HOSTING_PERIOD": "3600", "TAWA_GATE_RETRY_MAX": "1"},
                          volumes={readable_kubeconfig(kube_cluster, tmp_path): "/etc/tawa/kube:ro"})
    ready = operator.wait_ready(f"http://127.0.0.1:{liveness}/healthz")
    print(f"operator ready {ready:.2f} s after docker run")
    assert ready < READY_BOUND

    ns = namespace("img")
    kube_cluster.apply_component(component_manifest("app", ns, org, tier="nano"))
    eventually(lambda: kube_cluster.deployment(ns, "app"), what="the Deployment the operator in a container made")

    kube_cluster.apply_component(component_manifest("analytics", ns, org, tier="medium"))
    closed = eventually(lambda: (c := kube_cluster.condition(ns, "analytics", "DeployGate"))
                        and c["reason"] == "InsufficientReserve" and c, what="the gate closed")
    assert closed["message"].startswith(f"deploy blocked: wallet-{org} holds") and "medium" in closed["message"]
    time.sleep(3)  # past the operator's gate retries: nothing opens it but a purchase
    assert kube_cluster.deployment(ns, "analytics") is None
    assert kube_cluster.condition(ns, "analytics", "DeployGate")["reason"] == "InsufficientReserve"
    assert operator.running()
