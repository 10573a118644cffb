"""Kubernetes service-account identity against the real control plane: a
projected token (audience `janus`) is checked with TokenReview, its service
account mapped to the Component of the same name, whose owner pays."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.fixtures.cluster import KubeCluster, component_manifest
from tests.fixtures.janus import (
    UPSTREAM_ANNOTATION,
    JanusProcess,
    RecordingUpstream,
    wait_until,
)
from tests.fixtures.wallet import WalletServer

pytestmark = pytest.mark.cluster

NS = "janus-tr-prod"


def sa_token(cluster: KubeCluster, name: str, audience: str = "janus") -> str:
    return cluster.service_account_token(NS, name, audience)


def component(name: str, owner: str, **spec: Any) -> dict[str, Any]:
    return component_manifest(name, NS, owner, **spec)


def test_service_account_token_identifies_the_component_and_its_owner_pays(
        kube_cluster: KubeCluster, janus_factory: Callable[..., JanusProcess], upstream: RecordingUpstream,
        wallet: WalletServer) -> None:
    kube_cluster.create_namespace(NS)
    docman = component("docman", "insureco", routes=[{"path": "/documents", "methods": ["POST"], "gas": 5}])
    docman["metadata"]["annotations"][UPSTREAM_ANNOTATION] = upstream.url
    kube_cluster.apply_component(docman)
    kube_cluster.apply_component(component("quoter", "acme"))
    for org in ("acme", "insureco"):
        wallet.client.create_wallet(org)
    wallet.client.purchase("acme", 100)

    janus = janus_factory(cluster=True, args=["--kubeconfig", str(kube_cluster.kubeconfig)])
    url = janus.proxy("docman", "/documents")

    r = httpx.post(url, headers={"Authorization": f"Bearer {sa_token(kube_cluster, 'quoter')}"})
    assert r.status_code == 200, r.text
    assert upstream.last.header("X-Caller-Org") == "acme"
    wait_until(lambda: wallet.client.get_wallet("acme").balances.purchased == 95, what="acme charged")
    events = wallet.client.gas_events(org="acme").events
    assert [(e.service, e.tokens, e.provider) for e in events] == [("docman", 5, "wallet-insureco")]

    # A token for another audience is refused by the API server's review.
    wrong = sa_token(kube_cluster, "quoter", audience="https://kubernetes.default.svc.cluster.local")
    r = httpx.post(url, headers={"Authorization": f"Bearer {wrong}"})
    assert r.status_code == 401 and r.json()["error"] == "INVALID_TOKEN"

    # A genuine service account with no Component behind it names nobody to charge.
    r = httpx.post(url, headers={"Authorization": f"Bearer {sa_token(kube_cluster, 'stranger')}"})
    assert r.status_code == 401 and r.json()["error"] == "UNKNOWN_SERVICE_ACCOUNT"
