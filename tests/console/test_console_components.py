"""The Components page over real sockets: a real console (with a kubeconfig) and wallet in front
of the real local control plane, two orgs' Components applied, a medium one blocked by the gate."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tawa.catalog.validate import check_component
from tawa.controller import gate
from tawa.controller.conditions import merge_conditions
from tests.console.conftest import Org, Visitor, World, make_org, start_console
from tests.fixtures.cluster import KubeCluster, component_manifest
from tests.fixtures.wallet import start_wallet_server

pytestmark = pytest.mark.cluster


@dataclass
class ComponentsWorld(World):
    namespace: str
    blocked_message: str


def blocked_medium(kube: KubeCluster, namespace: str, org: Org) -> str:
    """A medium Component whose status carries the deploy gate's verdict, as the operator writes it."""
    manifest = component_manifest("quoting", namespace, org.name, tier="medium", replicas=2)
    obj = kube.apply_component(manifest)
    meta = obj["metadata"]
    component = check_component(meta["name"], meta["annotations"], obj["spec"], namespace)
    verdict = gate.insufficient_reserve(component, f"wallet/{org.name}", 100, 99_360, 99_260)
    kube.custom.patch_namespaced_custom_object_status(
        "tawa.insureco.io", "v1", namespace, "components", "quoting",
        {"status": {"tier": "medium", "ready": "0/2", "conditions": merge_conditions([], [verdict], 1)}})
    return verdict.message


@pytest.fixture(scope="module")
def components_world(tmp_path_factory: pytest.TempPathFactory, kube_cluster: KubeCluster) -> Iterator[ComponentsWorld]:
    directory: Path = tmp_path_factory.mktemp("console-components")
    wallet = start_wallet_server(directory)
    console = start_console(directory, wallet.url, {"TAWA_CONSOLE_KUBECONFIG": str(kube_cluster.kubeconfig)})
    a, b = make_org(wallet, "acme", 100), make_org(wallet, "bravo", 100)
    namespace = kube_cluster.create_namespace(f"comp-{uuid.uuid4().hex[:6]}")
    kube_cluster.apply_component(component_manifest(
        "pricing", namespace, a.name, tier="small",
        routes=[{"path": "/quote", "methods": ["POST"], "gas": 5}]))
    kube_cluster.apply_component(component_manifest("secret-sauce", namespace, b.name))
    message = blocked_medium(kube_cluster, namespace, a)
    yield ComponentsWorld(wallet, console, a, b, namespace, message)
    console.stop()
    wallet.close()


def test_an_org_sees_only_its_own_components_with_prices_and_the_gate(components_world: ComponentsWorld) -> None:
    w = components_world
    with Visitor(w.console.url) as v:
        v.login(w.a.viewer)
        page = v.get("/components")
        assert page.status_code == 200
        html = page.text
        assert "pricing" in html and "quoting" in html and w.namespace in html
        assert "secret-sauce" not in html and w.b.name not in html  # org B's Component is not shown
        assert "/quote" in html and "route prices" in html  # the `tawa gas pricing` view
        assert "closed: InsufficientReserve" in html
        assert "Buy at least 99,260 tokens" in html  # the gate's own message: what to do
    with Visitor(w.console.url) as v:
        v.login(w.b.owner)
        html = v.get("/components").text
        assert "secret-sauce" in html and "quoting" not in html and "pricing" not in html


def test_without_a_cluster_the_page_says_so(tmp_path: Path, components_world: ComponentsWorld) -> None:
    console = start_console(tmp_path, components_world.wallet.url)
    try:
        with Visitor(console.url) as v:
            v.login(components_world.a.owner)
            page = v.get("/components")
        assert page.status_code == 200
        assert "not connected to a cluster" in page.text
    finally:
        console.stop()


def test_healthz_needs_no_session(components_world: ComponentsWorld) -> None:
    with Visitor(components_world.console.url) as v:
        assert v.get("/healthz").text == "ok"
