"""The README's story (`make run`) with the wallet, Janus and the operator all run from the image:
the examples deployed, the medium one blocked by the deploy gate, one metered call charged."""

from __future__ import annotations

import secrets
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from tawa.devcluster import demo
from tawa.devcluster.processes import Process, free_port, wait_until
from tawa.devcluster.stack import StackState, _http_ok
from tawa.resource import API_GROUP, PLURAL
from tests.container.conftest import StartContainer, volume_dir
from tests.container.test_image import DATA
from tests.container.test_operator_image import readable_kubeconfig
from tests.fixtures.cluster import KubeCluster, eventually

pytestmark = pytest.mark.cluster
REPO = Path(__file__).parents[2]
KUBECONFIG = "/etc/tawa/kube/kubeconfig"


def _story_components(kube: KubeCluster, env: str) -> list[dict[str, Any]]:
    listed = kube.custom.list_cluster_custom_object(API_GROUP, "v1", PLURAL)["items"]
    return [c for c in listed if c["metadata"]["namespace"].endswith(f"-{env}")]


def remove_the_story(kube: KubeCluster, env: str) -> None:
    """Deletes its namespaces while the operator still runs, so no Component is left on the shared
    control plane for later tests' operators and Janus registries to find."""
    for namespace in {c["metadata"]["namespace"] for c in _story_components(kube, env)}:
        kube.core.delete_namespace(namespace)
    eventually(lambda: not _story_components(kube, env), what="the story's Components deleted")


def test_the_readme_story_with_all_three_in_containers(containers: StartContainer, kube_cluster: KubeCluster,
                                                       tmp_path: Path) -> None:
    env = f"img{uuid.uuid4().hex[:4]}"  # its own namespaces (docman-<env>, ...) on the shared control plane
    token, jwt_secret = secrets.token_hex(16), secrets.token_hex(32)
    wallet_port, janus_port = free_port(), free_port()
    wallet_url, janus_url = f"http://127.0.0.1:{wallet_port}", f"http://127.0.0.1:{janus_port}"
    kube = {readable_kubeconfig(kube_cluster, tmp_path): "/etc/tawa/kube:ro"}
    common = {"KUBECONFIG": KUBECONFIG, "TAWA_WALLET_TOKEN": token, "TAWA_ENV": env, "TAWA_WALLET_URL": wallet_url}

    containers(["wallet", "serve", "--host", "127.0.0.1", "--port", str(wallet_port)],
               env={**common, "TAWA_WALLET_DATABASE_URL": f"sqlite:///{DATA}/wallet.db"},
               volumes={volume_dir(tmp_path, "wallet"): DATA}).wait_ready(f"{wallet_url}/healthz")
    containers(["janus", "serve", "--host", "127.0.0.1", "--port", str(janus_port), "--env", env],
               env={**common, "TAWA_JANUS_JWT_SECRET": jwt_secret, "TAWA_DATA_DIR": DATA},
               volumes={volume_dir(tmp_path, "spool"): DATA, **kube}).wait_ready(f"{janus_url}/healthz")
    containers(["operator", "run"], env=common, volumes=kube)
    upstream_port = free_port()
    upstream = Process("upstream", [sys.executable, "-m", "tawa.devcluster.upstream", "--port", str(upstream_port)],
                       tmp_path / "upstream.log").start()
    try:
        wait_until(lambda: _http_ok(f"http://127.0.0.1:{upstream_port}/healthz"), "the demo upstream", 30, upstream)
        state = StackState(str(kube_cluster.kubeconfig), wallet_url, token, janus_url, jwt_secret,
                           f"http://127.0.0.1:{upstream_port}", env)
        told: list[str] = []
        demo.run(state, REPO / "examples", told.append)
    finally:
        upstream.stop()
        remove_the_story(kube_cluster, env)
    story = "\n".join(told)
    assert f"✓ docman-{env}/docman (small): running, 1/1 pods ready" in story
    assert f"✓ quoter-{env}/quoter (nano): running" in story
    assert f"✗ analytics-{env}/analytics (medium): blocked — deploy blocked: wallet-startupco holds 50,000" in story
    assert "charged 5 tokens (route /documents, gas: 5): acme purchased 5,000 → 4,995" in story, story
