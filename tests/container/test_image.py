"""The image itself, the wallet and Janus run from it as the chart runs them."""

from __future__ import annotations

import json
import subprocess
import threading
import time
import uuid
from pathlib import Path

import httpx
import yaml

from tawa import __version__
from tawa.devcluster import docker
from tawa.devcluster.docker import Daemon
from tawa.devcluster.processes import free_port
from tawa.wallet.client import WalletClient, WalletError
from tests.container.conftest import READY_BOUND, Container, StartContainer, volume_dir
from tests.fixtures.janus import (
    TEST_ENV,
    TEST_JWT_SECRET,
    RecordingUpstream,
    all_gas_events,
    default_services,
    service_token,
    unique_org,
    wait_until,
)

DATA = "/var/lib/tawa"


def _docker(daemon: Daemon, *args: str) -> str:
    return subprocess.run([docker.docker_cli(), *args], capture_output=True, text=True, check=True,
                          env=daemon.env(), timeout=120).stdout


def test_image_runs_as_10001_with_no_build_tools(docker_daemon: Daemon, tawa_image: str) -> None:
    config = json.loads(_docker(docker_daemon, "image", "inspect", "--format", "{{json .Config}}", tawa_image))
    assert config["User"] == "10001:10001"
    assert config["Entrypoint"] == ["tawa"]
    assert _docker(docker_daemon, "run", "--rm", "--network=host", "--read-only", tawa_image,
                   "--version").strip().endswith(__version__)
    probe = _docker(docker_daemon, "run", "--rm", "--network=host", "--read-only", "--entrypoint=sh", tawa_image,
                    "-c", "id -u; for t in pip pip3 gcc cc make; do command -v $t; done; "
                          "ls /opt/tawa/lib/python3.11/site-packages | grep -ci -e '^setuptools' -e '^pip' || true")
    assert probe.split() == ["10001", "0"]  # uid; no pip, compiler or make; no pip/setuptools in the venv


def _wallet(containers: StartContainer, volume: Path, token: str) -> tuple[Container, str]:
    port = free_port()
    wallet = containers(["wallet", "serve", "--host", "127.0.0.1", "--port", str(port)],
                        env={"TAWA_WALLET_TOKEN": token, "TAWA_DATA_DIR": DATA,
                             "TAWA_WALLET_DATABASE_URL": f"sqlite:///{DATA}/wallet.db"},
                        volumes={volume: DATA})
    return wallet, f"http://127.0.0.1:{port}"


def test_wallet_purchase_survives_a_restart_and_a_sigkill_mid_purchase(containers: StartContainer,
                                                                        tmp_path: Path) -> None:
    token = uuid.uuid4().hex
    wallet, url = _wallet(containers, volume_dir(tmp_path, "wallet"), token)
    ready = wallet.wait_ready(f"{url}/healthz")
    print(f"wallet ready {ready:.2f} s after docker run")
    assert ready < READY_BOUND
    client = WalletClient(url, token, timeout=10)
    client.create_wallet("acme")
    assert client.purchase("acme", 500, idempotency_key="first").wallet.balances.purchased == 500

    wallet.stop()
    wallet.docker("start", wallet.name)
    wallet.wait_ready(f"{url}/healthz")
    assert client.get_wallet("acme").balances.purchased == 500

    # Purchases of 1 token under their own keys, SIGKILL in the middle: every one whose answer
    # came back is still there after a restart, and replaying every key applies each exactly once.
    keys = [f"burst-{n}" for n in range(400)]
    acknowledged: set[str] = set()

    def buy() -> None:
        with WalletClient(url, token, timeout=5) as buyer:
            for key in keys:
                try:
                    buyer.purchase("acme", 1, idempotency_key=key)
                except WalletError:
                    return
                acknowledged.add(key)

    burst = threading.Thread(target=buy)
    burst.start()
    wait_until(lambda: len(acknowledged) >= 20, timeout=30, what="20 purchases answered")
    wallet.kill()
    burst.join(30)
    assert 0 < len(acknowledged) < len(keys), "the kill must land mid-burst"

    wallet.docker("start", wallet.name)
    wallet.wait_ready(f"{url}/healthz")
    assert client.get_wallet("acme").balances.purchased >= 500 + len(acknowledged)
    for key in keys:
        client.purchase("acme", 1, idempotency_key=key)
    assert client.get_wallet("acme").balances.purchased == 500 + len(keys)
    assert client.integrity().ok


def test_janus_in_a_container_charges_a_metered_call_once(containers: StartContainer, tmp_path: Path,
                                                          upstream: RecordingUpstream) -> None:
    token = uuid.uuid4().hex
    wallet, wallet_url = _wallet(containers, volume_dir(tmp_path, "wallet"), token)
    wallet.wait_ready(f"{wallet_url}/healthz")
    registry = tmp_path / "registry"
    registry.mkdir()
    (registry / "registry.yaml").write_text(yaml.safe_dump_all(default_services(upstream.url)))
    registry.chmod(0o755)
    port = free_port()
    janus = containers(["janus", "serve", "--host", "127.0.0.1", "--port", str(port), "--wallet-url", wallet_url,
                        "--registry", "/etc/tawa/registry.yaml"],
                       env={**TEST_ENV, "TAWA_WALLET_TOKEN": token, "TAWA_JANUS_JWT_SECRET": TEST_JWT_SECRET,
                            "TAWA_DATA_DIR": DATA},
                       volumes={volume_dir(tmp_path, "spool"): DATA, registry: "/etc/tawa:ro"})
    ready = janus.wait_ready(f"http://127.0.0.1:{port}/healthz")
    print(f"janus ready {ready:.2f} s after docker run")
    assert ready < READY_BOUND

    client = WalletClient(wallet_url, token)
    org = unique_org("acme")
    for name in (org, "insureco"):
        client.create_wallet(name)
    client.purchase(org, 1000)
    answer = httpx.post(f"http://127.0.0.1:{port}/proxy/docman/documents",
                        headers={"Authorization": f"Bearer {service_token(org, 'quoter')}"})
    assert answer.status_code == 200, answer.text
    assert len(upstream.seen) == 1
    wait_until(lambda: client.get_wallet(org).balances.purchased == 995, what="the call settled")
    janus.stop()  # a graceful stop settles what is spooled: nothing more may be charged
    time.sleep(0.5)
    assert client.get_wallet(org).balances.purchased == 995
    events = all_gas_events(client, org=org)
    assert [(e.service, e.tokens, e.request_id) for e in events] == [
        ("docman", 5, answer.headers["X-Request-ID"])]
