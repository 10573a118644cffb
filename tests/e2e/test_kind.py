"""End to end on kind: real kubelets and containers instead of kwok's fake nodes.

Runs only where a Docker engine answers and kind's node image is in it (kind
needs both; with no registry to pull the node image from, a daemon alone is not
enough); otherwise it is skipped with that reason. The integration suite covers
the same behaviour on the local control plane, and tests/container runs Tawa's
own image.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

KIND_VERSION = "v0.30.0"
# Named explicitly, so that the skip below checks for exactly the image kind would use.
KIND_NODE_IMAGE = "kindest/node:v1.34.0"
REPO = Path(__file__).parents[2]


def _docker_env() -> dict[str, str]:
    """DOCKER_HOST, or the project's own daemon (`make image` leaves it running) when that is unset."""
    from tawa.devcluster.docker import SOCKET, own_host

    if "DOCKER_HOST" not in os.environ and SOCKET.exists():
        return {**os.environ, "DOCKER_HOST": own_host()}
    return dict(os.environ)


def _why_kind_cannot_run() -> str | None:
    env = _docker_env()
    if shutil.which("docker") is None or subprocess.run(["docker", "info"], capture_output=True,
                                                        env=env).returncode != 0:
        return "no Docker engine answers `docker info`: kind cannot start here"
    if subprocess.run(["docker", "image", "inspect", KIND_NODE_IMAGE], capture_output=True,
                      env=env).returncode != 0:
        return (f"kind's node image {KIND_NODE_IMAGE} is not in the Docker engine: `docker load` it, or run "
                "where a registry can be pulled from")
    return None


_REASON = _why_kind_cannot_run()
pytestmark = pytest.mark.skipif(_REASON is not None, reason=f"{_REASON}; tests/integration covers this on the "
                                "local control plane")


@pytest.fixture(scope="module")
def kind_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    from tawa.devcluster.build import build_go_install, cache_root

    out = cache_root() / f"kind-{KIND_VERSION}"
    if not (out / "kind").exists():
        out.mkdir(parents=True, exist_ok=True)
        build_go_install("sigs.k8s.io/kind", KIND_VERSION, out)
    name = f"tawa-{uuid.uuid4().hex[:6]}"
    kubeconfig = tmp_path_factory.mktemp("kind") / "kubeconfig"
    subprocess.run([str(out / "kind"), "create", "cluster", "--name", name, "--kubeconfig", str(kubeconfig),
                    "--image", KIND_NODE_IMAGE, "--wait", "120s"], check=True, env=_docker_env())
    yield kubeconfig
    subprocess.run([str(out / "kind"), "delete", "cluster", "--name", name], check=False, env=_docker_env())


def test_component_runs_on_kind(kind_cluster: Path, tmp_path: Path) -> None:
    from tawa.devcluster.processes import Process, free_port, wait_until
    from tawa.devcluster.stack import _http_ok
    from tawa.wallet.client import WalletClient

    port = free_port()
    wallet_url = f"http://127.0.0.1:{port}"
    env = {"KUBECONFIG": str(kind_cluster), "PATH": "/usr/local/bin:/usr/bin:/bin", "TAWA_WALLET_TOKEN": "e2e",
           "TAWA_WALLET_URL": wallet_url, "TAWA_ENV": "e2e"}
    subprocess.run(["kubectl", "--kubeconfig", str(kind_cluster), "apply", "-f", str(REPO / "crds")], check=True)
    tawa = [sys.executable, "-m", "tawa.cli.main"]
    wallet = Process("wallet", [*tawa, "wallet", "serve", "--port", str(port), "--database-url",
                                f"sqlite:///{tmp_path / 'w.db'}"], tmp_path / "wallet.log", env).start()
    operator = Process("operator", [*tawa, "operator", "run"], tmp_path / "operator.log", env).start()
    try:
        wait_until(lambda: _http_ok(f"{wallet_url}/healthz"), "the wallet", 30, wallet)
        WalletClient(wallet_url, "e2e").create_wallet("insureco")
        deploy = subprocess.run([*tawa, "deploy", str(REPO / "examples/docman.yaml"), "--image",
                                 "nginxinc/nginx-unprivileged:stable", "--timeout", "300"],
                                env=env, capture_output=True, text=True)
        assert deploy.returncode == 0, deploy.stderr + operator.tail()
        assert deploy.stdout.strip() == "docman-e2e/docman is running (1 × small)"
    finally:
        operator.stop()
        wallet.stop()
