"""`tawa dev token|env|down` against a stack's state file, no servers: the token Janus's own
check accepts, the exports a local caller needs, and what `down` deletes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tawa.janus.identity import Identity
from tawa.janus.model import Caller

SECRET = "dev-secret-0123456789abcdef0123456789abcdef"


def tawa(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tawa.cli.main", "dev", *args], capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", "TAWA_DATA_DIR": str(data_dir)}, timeout=60)


@pytest.fixture
def sleeper() -> Iterator[int]:
    """A process standing in for a server of the stack: in a session of its own (`down` stops
    process groups) and not this process's child, as a detached stack's servers are not
    `tawa dev down`'s (a child would linger as a zombie after its SIGTERM)."""
    started = subprocess.run(["sh", "-c", "setsid sleep 300 >/dev/null 2>&1 & echo $!"], capture_output=True,
                             text=True, check=True)
    pid = int(started.stdout)
    yield pid
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def stack_dir(tmp_path: Path, sleeper: int) -> Path:
    """A running stack as `tawa dev up` leaves it: stack.json, a cluster, a wallet, Janus's spool, logs."""
    root = tmp_path / "dev"
    (root / "controlplane" / "etcd").mkdir(parents=True)
    (root / "logs").mkdir()
    (root / "logs" / "wallet.log").write_text("started\n")
    (root / "wallet.db").write_bytes(b"ledger")
    (root / "janus-spool").mkdir()
    (root / "stack.json").write_text(json.dumps({
        "kubeconfig": str(root / "controlplane" / "kubeconfig"), "wallet_url": "http://127.0.0.1:1",
        "wallet_token": "wt", "janus_url": "http://127.0.0.1:2", "jwt_secret": SECRET, "env": "dev",
        "pids": {"wallet": sleeper}}))
    return tmp_path


def test_token_is_one_janus_accepts_for_that_org_and_service(stack_dir: Path) -> None:
    before = int(time.time())
    result = tawa(stack_dir, "token", "acme", "quoter", "--lifetime", "600", "--json")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    claims = out["claims"]
    assert {k: claims[k] for k in ("programId", "serviceId", "aud")} == {
        "programId": "acme", "serviceId": "quoter", "aud": "janus"}
    assert before <= claims["iat"] <= before + 5 and claims["exp"] == claims["iat"] + 600
    plain = tawa(stack_dir, "token", "acme", "quoter").stdout.strip()  # TOKEN=$(tawa dev token acme quoter)
    for token in (out["token"], plain):
        caller = asyncio.run(Identity(secret=SECRET).identify(f"Bearer {token}"))
        assert caller == Caller(program_id="acme", service_id="quoter", via="jwt")


@pytest.mark.parametrize("args, message", [
    (("wallet-acme", "quoter"), "is a wallet id; name the org instead: acme"),
    (("Acme", "quoter"), "ORG must be an org slug"),
    (("acme", "Quoter_1"), "SERVICE must be a service name: a DNS label"),
])
def test_token_bad_names_are_one_line_exit_2(stack_dir: Path, args: tuple[str, str], message: str) -> None:
    result = tawa(stack_dir, "token", *args)
    assert result.returncode == 2 and result.stdout == "" and result.stderr.count("\n") == 1
    assert message in result.stderr


def test_token_lifetime_is_at_most_what_janus_takes(stack_dir: Path) -> None:
    result = tawa(stack_dir, "token", "acme", "quoter", "--lifetime", "86401")
    assert result.returncode == 2 and "1<=x<=86400" in result.stderr


def test_token_and_env_need_a_running_stack(tmp_path: Path) -> None:
    for command in (("token", "acme", "quoter"), ("env",)):
        result = tawa(tmp_path, *command)
        assert result.returncode == 1
        assert result.stderr == "error: the dev stack is not running; start it with `tawa dev up --detach`\n"


def test_env_exports_what_a_local_caller_needs(stack_dir: Path) -> None:
    lines = tawa(stack_dir, "env").stdout.splitlines()
    exports = dict(line.removeprefix("export ").split("=", 1) for line in lines)
    assert exports["TAWA_JANUS_URL"] == "http://127.0.0.1:2" and exports["TAWA_JANUS_JWT_SECRET"] == SECRET
    assert json.loads(tawa(stack_dir, "env", "--json").stdout) == exports
    assert "TAWA_CONSOLE_URL" not in exports  # a stack started before the console had one


def test_env_exports_the_consoles_url(stack_dir: Path) -> None:
    state = stack_dir / "dev" / "stack.json"
    state.write_text(json.dumps({**json.loads(state.read_text()), "console_url": "http://127.0.0.1:3"}))
    assert json.loads(tawa(stack_dir, "env", "--json").stdout)["TAWA_CONSOLE_URL"] == "http://127.0.0.1:3"


def test_down_stops_the_stack_and_deletes_cluster_and_wallet_together(
        stack_dir: Path, sleeper: int) -> None:
    result = tawa(stack_dir, "down")
    assert result.returncode == 0, result.stderr
    root = stack_dir / "dev"
    assert result.stdout == f"stopped wallet\ndeleted the cluster and the wallet in {root}\n"
    assert not alive(sleeper)
    assert sorted(p.name for p in root.iterdir()) == ["logs"]  # wallet.db, etcd, the spool: all gone
    assert (root / "logs" / "wallet.log").read_text() == "started\n"
    assert tawa(stack_dir, "env").returncode == 1
    purged = tawa(stack_dir, "down", "--purge")
    assert purged.returncode == 0 and not root.exists()
    assert purged.stdout.splitlines()[0] == "nothing was running"


def test_demo_with_a_bad_example_is_one_line_and_creates_nothing(stack_dir: Path, tmp_path: Path) -> None:
    examples = tmp_path / "examples"
    examples.mkdir()
    (examples / "broken.yaml").write_text("apiVersion: backstage.io/v1alpha1\nkind: Component\n"
                                          "metadata: {name: Broken}\nspec: {owner: acme}\n")
    result = tawa(stack_dir, "demo", "--examples", str(examples))  # the stack's wallet and cluster: unreachable
    assert result.returncode == 2 and result.stdout == "" and result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"error: {examples / 'broken.yaml'}: metadata.name: must be a DNS-1035 label")
    assert result.stderr.endswith(f"check it with `tawa catalog validate {examples / 'broken.yaml'}`\n")
