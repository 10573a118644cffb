"""The wallet's service-account credentials against the real control plane: a projected token
(audience `tawa-wallet`) is checked with TokenReview and its service account mapped to a role
by TAWA_WALLET_SERVICE_ACCOUNTS; the client re-reads a rotating token file."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import yaml

from tawa.wallet.accounts import AUDIENCE
from tawa.wallet.client import WalletAuthError, WalletClient, WalletError
from tests.fixtures.cluster import KubeCluster
from tests.fixtures.ports import free_port
from tests.fixtures.wallet import WalletServer

pytestmark = pytest.mark.cluster

NS = "tawa-sa-system"
ACCOUNTS = f"{NS}/tawa-operator=operator,{NS}/tawa-janus=janus"


def sa_token(cluster: KubeCluster, name: str, audience: str = AUDIENCE) -> str:
    return cluster.service_account_token(NS, name, audience)


@pytest.fixture
def reviewing_wallet(kube_cluster: KubeCluster, wallet_factory: Callable[..., WalletServer]) -> WalletServer:
    kube_cluster.create_namespace(NS)
    wallet = wallet_factory(env={"TAWA_WALLET_SERVICE_ACCOUNTS": ACCOUNTS, "KUBECONFIG": str(kube_cluster.kubeconfig)})
    for org in ("acme", "insureco"):
        wallet.client.create_wallet(org)
    wallet.client.purchase("acme", 1000)
    return wallet


def test_the_operators_service_account_charges_hosting_and_buys_nothing(
        kube_cluster: KubeCluster, reviewing_wallet: WalletServer) -> None:
    with WalletClient(reviewing_wallet.url, sa_token(kube_cluster, "tawa-operator")) as operator:
        operator.hosting_charge("acme", "quoter", "2026-01-01T00:00:00Z", 7, idempotency_key="sa-hour-0")
        with pytest.raises(WalletError) as refused:
            operator.purchase("acme", 10, idempotency_key="sa-buy")
    assert refused.value.status == 403 and refused.value.code == "FORBIDDEN"
    entries = reviewing_wallet.client.ledger("acme").transactions
    assert [(e.type, e.actor) for e in entries if e.type == "hosting_charge"] == [("hosting_charge", "operator")]


def test_janus_service_account_places_holds(kube_cluster: KubeCluster, reviewing_wallet: WalletServer) -> None:
    with WalletClient(reviewing_wallet.url, sa_token(kube_cluster, "tawa-janus")) as janus:
        hold = janus.hold("acme", 5, 60)
        janus.release(hold.id)
        with pytest.raises(WalletError) as refused:
            janus.hosting_charge("acme", "quoter", "2026-01-01T00:00:00Z", 7)
    assert refused.value.status == 403


@pytest.mark.parametrize("account, audience", [
    ("tawa-operator", "https://kubernetes.default.svc.cluster.local"),  # another audience
    ("stranger", AUDIENCE),  # a genuine service account the setting does not name
])
def test_other_audiences_and_unmapped_accounts_are_unauthenticated(
        kube_cluster: KubeCluster, reviewing_wallet: WalletServer, account: str, audience: str) -> None:
    token = sa_token(kube_cluster, account, audience)
    r = httpx.get(f"{reviewing_wallet.url}/v1/wallets/wallet-acme", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401 and r.json()["error"] == "UNAUTHENTICATED", r.text


def test_an_unreachable_api_server_is_503_within_the_deadline(
        kube_cluster: KubeCluster, wallet_factory: Callable[..., WalletServer], tmp_path: Path) -> None:
    config = yaml.safe_load(kube_cluster.kubeconfig.read_text())
    for entry in config["clusters"]:
        entry["cluster"]["server"] = f"https://127.0.0.1:{free_port()}"  # nobody listens
    dead = tmp_path / "dead-kubeconfig"
    dead.write_text(yaml.safe_dump(config))
    wallet = wallet_factory(env={"TAWA_WALLET_SERVICE_ACCOUNTS": ACCOUNTS, "KUBECONFIG": str(dead)})
    kube_cluster.create_namespace(NS)
    start = time.monotonic()
    r = httpx.get(f"{wallet.url}/v1/wallets/wallet-acme",
                  headers={"Authorization": f"Bearer {sa_token(kube_cluster, 'tawa-operator')}"}, timeout=30)
    assert r.status_code == 503 and r.json()["error"] == "IDENTITY_UNAVAILABLE", r.text
    assert time.monotonic() - start < 15


def test_the_client_rereads_a_rotated_token_file(kube_cluster: KubeCluster, reviewing_wallet: WalletServer,
                                                 tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("not-a-token")
    with WalletClient(reviewing_wallet.url, token_file=token_file) as operator:
        with pytest.raises(WalletAuthError):
            operator.check_reserve("acme", "nano")
        token_file.write_text(sa_token(kube_cluster, "tawa-operator") + "\n")  # the kubelet's rotation
        assert operator.check_reserve("acme", "nano").ok
        token_file.unlink()  # a read that fails keeps the last token
        assert operator.check_reserve("acme", "nano").ok


def test_a_missing_token_file_is_a_clear_error(tmp_path: Path) -> None:
    with WalletClient("http://127.0.0.1:9", token_file=tmp_path / "absent") as nobody:
        with pytest.raises(WalletAuthError, match="TAWA_WALLET_TOKEN_FILE"):
            nobody.get_wallet("acme")
