"""The embedded default stack for `tawa dev up`: local control plane, wallet on
SQLite, Janus, the operator and the Developer Console, as detached processes whose state (pids, ports,
token) lives in one JSON file so `tawa dev env|down` find them again."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import sys
import urllib.request
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path

from tawa.devcluster.cluster import install_crds, start_control_plane
from tawa.devcluster.processes import Process, free_port, wait_until
from tawa.settings import SharedSettings

DEV_ENV = "dev"
LOGS = "logs"  # kept by `tawa dev down`, deleted by `--purge`


def state_dir() -> Path:
    return SharedSettings().data_dir / "dev"


@dataclass
class StackState:
    kubeconfig: str
    wallet_url: str
    wallet_token: str
    janus_url: str
    jwt_secret: str
    upstream_url: str = ""
    env: str = DEV_ENV
    hosting_period: float = 3600.0
    pids: dict[str, int] = field(default_factory=dict)
    logs: str = ""
    suspend_after: float = 0.0
    console_url: str = ""

    def owns_cluster(self) -> bool:
        """Whether the cluster is the stack's own control plane, not one `--kubeconfig` named."""
        return Path(self.kubeconfig).is_relative_to(state_dir())

    def exports(self) -> dict[str, str]:
        """What a shell on this machine needs to drive the stack, and to call services
        through its Janus (the secret signs service JWTs: `tawa dev token`)."""
        return {"KUBECONFIG": self.kubeconfig, "TAWA_WALLET_URL": self.wallet_url,
                "TAWA_WALLET_TOKEN": self.wallet_token, "TAWA_JANUS_URL": self.janus_url,
                "TAWA_JANUS_JWT_SECRET": self.jwt_secret, "TAWA_ENV": self.env,
                **({"TAWA_CONSOLE_URL": self.console_url} if self.console_url else {})}


def _state_file() -> Path:
    return state_dir() / "stack.json"


def load_state() -> StackState | None:
    try:
        return StackState(**json.loads(_state_file().read_text()))
    except FileNotFoundError:
        return None


def _save_state(state: StackState) -> None:
    _state_file().parent.mkdir(parents=True, exist_ok=True)
    _state_file().write_text(json.dumps(asdict(state), indent=2))
    _state_file().chmod(0o600)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _exited(pid: int) -> bool:
    return not _alive(pid)


def running_state() -> StackState | None:
    state = load_state()
    if state and state.pids and all(_alive(p) for p in state.pids.values()):
        return state
    return None


def _http_ok(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=2) as response:
        return int(response.status) == 200


def _tawa(*args: str) -> list[str]:
    return [sys.executable, "-m", "tawa.cli.main", *args]


def up(hosting_period: float, env: str = DEV_ENV, kubeconfig: str | None = None,
       suspend_after: float = 0.0) -> StackState:
    """Start everything not running yet; idempotent."""
    existing = running_state()
    if existing:
        return existing
    down()  # whatever is left of a stack that is not whole: its processes and its state
    root = state_dir()
    logs = root / LOGS
    processes: list[Process] = []
    try:
        if kubeconfig is None:
            plane = start_control_plane(root / "controlplane", detached=True)
            processes += plane.processes
            kubeconfig = str(plane.kubeconfig)
        _install_crds(kubeconfig)
        token, jwt_secret = secrets.token_hex(16), secrets.token_hex(32)
        # The operator and Janus each get a token with only their role (docs/wallet-identities.md),
        # presented as their TAWA_WALLET_TOKEN; the admin's stays with the wallet and `tawa dev env`.
        program_tokens = {"operator": secrets.token_hex(16), "janus": secrets.token_hex(16)}
        wallet_port, janus_port = free_port(), free_port()
        base_env = {**_without_wallet_tokens(os.environ), "KUBECONFIG": kubeconfig, "TAWA_ENV": env,
                    "TAWA_WALLET_URL": f"http://127.0.0.1:{wallet_port}", "TAWA_DATA_DIR": str(root)}
        wallet_cmd = _tawa("wallet", "serve", "--port", str(wallet_port),
                           "--database-url", f"sqlite:///{root / 'wallet.db'}")
        wallet_env = {**base_env, "TAWA_WALLET_TOKEN": token,
                      "TAWA_WALLET_OPERATOR_TOKEN": program_tokens["operator"],
                      "TAWA_WALLET_JANUS_TOKEN": program_tokens["janus"]}
        wallet = Process("wallet", wallet_cmd, logs / "wallet.log", wallet_env, die_with_parent=False).start()
        processes.append(wallet)
        wait_until(lambda: _http_ok(f"http://127.0.0.1:{wallet_port}/healthz"), "the wallet", 60, wallet)
        janus = Process("janus", _tawa("janus", "serve", "--host", "127.0.0.1", "--port", str(janus_port),
                                       "--env", env),
                        logs / "janus.log", {**base_env, "TAWA_JANUS_JWT_SECRET": jwt_secret,
                                             "TAWA_WALLET_TOKEN": program_tokens["janus"]},
                        die_with_parent=False).start()
        processes.append(janus)
        wait_until(lambda: _http_ok(f"http://127.0.0.1:{janus_port}/healthz"), "Janus", 60, janus)
        operator = Process("operator", _tawa("operator", "run"), logs / "operator.log",
                           {**base_env, "TAWA_WALLET_TOKEN": program_tokens["operator"],
                            "TAWA_HOSTING_PERIOD": str(hosting_period),
                            "TAWA_SUSPEND_AFTER": str(suspend_after)}, die_with_parent=False).start()
        processes.append(operator)
        upstream_port = free_port()
        upstream = Process("upstream", [sys.executable, "-m", "tawa.devcluster.upstream", "--port",
                                        str(upstream_port)], logs / "upstream.log", base_env,
                           die_with_parent=False).start()
        processes.append(upstream)
        wait_until(lambda: _http_ok(f"http://127.0.0.1:{upstream_port}/healthz"), "the demo upstream", 30, upstream)
        console_port = free_port()  # no wallet credential: people log in with an org key
        console = Process("console", _tawa("console", "serve", "--port", str(console_port), "--wallet-url",
                                           f"http://127.0.0.1:{wallet_port}", "--kubeconfig", kubeconfig),
                          logs / "console.log", base_env,
                          die_with_parent=False).start()
        processes.append(console)
        wait_until(lambda: _http_ok(f"http://127.0.0.1:{console_port}/login"), "the console", 30, console)
    except BaseException:
        for proc in reversed(processes):
            proc.stop()
        raise
    state = StackState(kubeconfig, f"http://127.0.0.1:{wallet_port}", token, f"http://127.0.0.1:{janus_port}",
                       jwt_secret, f"http://127.0.0.1:{upstream_port}", env, hosting_period,
                       {p.name: p.pid for p in processes if p.pid}, str(logs), suspend_after,
                       f"http://127.0.0.1:{console_port}")
    _save_state(state)
    return state


def _without_wallet_tokens(env: Mapping[str, str]) -> dict[str, str]:
    """The caller's environment minus every wallet credential: each process gets only its own."""
    return {k: v for k, v in env.items() if not (k.startswith("TAWA_WALLET_") and k.endswith("_TOKEN"))}


def _install_crds(kubeconfig: str) -> None:
    from tawa.kube import api_client

    install_crds(api_client(kubeconfig))


def down() -> list[str]:
    """Stop every process of the stack and delete its state; return the processes' names.

    The cluster (etcd) and the wallet go together: a wallet kept beside a new cluster
    would see the examples' Components again under new uids, and charge their current
    hour a second time under new idempotency keys. Janus's spool and journal go too,
    so no charge of the old stack is replayed into the new wallet. The logs stay."""
    state = load_state()
    stopped = _stop(state) if state is not None else []
    _delete_state()
    return stopped


def _stop(state: StackState) -> list[str]:
    stopped = []
    for name, pid in reversed(list(state.pids.items())):
        try:
            os.killpg(pid, signal.SIGTERM)
            stopped.append(name)
        except ProcessLookupError:
            pass
    for pid in state.pids.values():
        try:
            wait_until(partial(_exited, pid), f"pid {pid} to exit", 15)
        except Exception:
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    return stopped


def _delete_state() -> None:
    root = state_dir()
    for path in root.iterdir() if root.is_dir() else ():
        if path.name == LOGS:
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
