"""A Docker daemon the project can use: the one DOCKER_HOST names, or one it starts itself.

The machines this project is built on allow a daemon only without a bridge network or
iptables rules, so the one started here is ``dockerd --bridge=none --iptables=false
--ip6tables=false`` with its own data root (under the tawa cache, so built images are
kept between runs), its own exec root and a private socket. Every container then runs
with ``--network host``; no Docker network is ever created.

    python -m tawa.devcluster.docker start   # prints DOCKER_HOST=unix://...
    python -m tawa.devcluster.docker stop
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tawa.devcluster.build import cache_root

# Short, fixed paths: a unix socket path must stay under 108 bytes, and a fixed place
# lets `stop` (and the next run) find the daemon an earlier command started.
RUN_DIR = Path(os.environ.get("TAWA_DOCKER_RUN_DIR", "/tmp/tawa-docker"))
SOCKET = RUN_DIR / "docker.sock"
PIDFILE = RUN_DIR / "dockerd.pid"
LOG = RUN_DIR / "dockerd.log"
START_TIMEOUT = 60.0


class DockerUnavailable(RuntimeError):
    """What is missing, and how to get it, in one line."""


@dataclass(frozen=True)
class Daemon:
    host: str  # a DOCKER_HOST value
    started_here: bool

    def env(self) -> dict[str, str]:
        return {**os.environ, "DOCKER_HOST": self.host}


def docker_cli() -> str:
    found = shutil.which("docker")  # PATH only: a test (or a user) hides a tool by leaving it off PATH
    if found is None:
        raise DockerUnavailable("no `docker` command: install Docker (on Debian: `make docker-engine`, "
                                "i.e. apt-get install docker.io)")
    return found


def answers(host: str) -> bool:
    probe = subprocess.run([docker_cli(), "info", "--format", "{{.ServerVersion}}"], capture_output=True,
                           env={**os.environ, "DOCKER_HOST": host}, timeout=30)
    return probe.returncode == 0


def own_host() -> str:
    return f"unix://{SOCKET}"


def find_or_start() -> Daemon:
    """The daemon DOCKER_HOST names when it answers, else ours (started if it is not running)."""
    docker_cli()  # every use needs the client: say so first when it is missing
    named = os.environ.get("DOCKER_HOST")
    if named and named != own_host() and answers(named):
        return Daemon(named, started_here=False)
    if SOCKET.exists() and answers(own_host()):
        return Daemon(own_host(), started_here=False)
    start()
    return Daemon(own_host(), started_here=True)


def _dockerd_command() -> list[str]:
    dockerd = shutil.which("dockerd")
    if dockerd is None:
        raise DockerUnavailable("no `dockerd`: install the Docker engine (on Debian: `make docker-engine`, "
                                "i.e. apt-get install docker.io)")
    data_root = cache_root() / "docker"
    data_root.mkdir(parents=True, exist_ok=True)
    return [dockerd, "--bridge=none", "--iptables=false", "--ip6tables=false",
            "--data-root", str(data_root), "--exec-root", str(RUN_DIR / "exec"),
            "--pidfile", str(PIDFILE), "-H", own_host()]


def start() -> None:
    """Starts dockerd in its own session, so it outlives this command (`make image` leaves it up)."""
    command = _dockerd_command()
    if os.geteuid() != 0:
        raise DockerUnavailable("starting dockerd needs root: run as root, or point DOCKER_HOST at a daemon")
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    _stop_stale()
    env = {**os.environ, "PATH": f"{os.environ.get('PATH', '')}:/usr/sbin:/sbin"}
    with open(LOG, "ab") as log:
        daemon = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                  env=env, start_new_session=True)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if daemon.poll() is not None:
            raise DockerUnavailable(f"dockerd exited ({daemon.returncode}); its log: {LOG}\n" + _tail(LOG))
        if SOCKET.exists() and answers(own_host()):
            return
        time.sleep(0.3)
    raise DockerUnavailable(f"dockerd did not answer within {START_TIMEOUT:.0f} s; its log: {LOG}\n" + _tail(LOG))


def _tail(path: Path, lines: int = 15) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""


def _running_pid() -> int | None:
    try:
        pid = int(PIDFILE.read_text().strip())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return pid


def _stop_stale() -> None:
    """A daemon of ours that no longer answers (or its leftover socket) would block a new one."""
    if _running_pid() is not None:
        stop()
    SOCKET.unlink(missing_ok=True)


def _reap(pid: int) -> None:
    """When this process started the daemon (the tests do), collect its exit so no zombie is left."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def stop(timeout: float = 30.0) -> bool:
    """Stops the daemon this module started (found by its pidfile); True when one was running."""
    pid = _running_pid()
    if pid is None:
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _reap(pid)
        try:
            os.kill(pid, 0)
        except OSError:
            return True
        time.sleep(0.2)
    os.kill(pid, signal.SIGKILL)
    return True


def main(argv: list[str]) -> int:
    action = argv[0] if argv else "start"
    try:
        if action == "start":
            print(f"DOCKER_HOST={find_or_start().host}")
        elif action == "stop":
            print("dockerd stopped" if stop() else "no dockerd of ours was running")
        else:
            print("usage: python -m tawa.devcluster.docker [start|stop]", file=sys.stderr)
            return 2
    except DockerUnavailable as missing:
        print(f"error: {missing}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
