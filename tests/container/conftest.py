"""The Tawa image and its three programs run as the chart runs them, on a real Docker daemon.

`docker_daemon` is the daemon DOCKER_HOST names, or one started here (no bridge, no
iptables, its own data root in the tawa cache) and stopped after the session. `tawa_image`
builds the image with `make image`'s code, or reuses it when nothing changed. Both skip
the tests, with the reason, only when the engine or debootstrap cannot be had here;
a build that fails fails the tests.

`containers` starts `docker run -d` with the chart's restrictions: `--network host`
(never a Docker network), `--read-only`, `--user 10001`, `--cap-drop ALL`, a tmpfs on
/tmp and a host directory (owned by 10001) where the chart mounts a volume.
"""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tawa.devcluster import docker, image
from tawa.devcluster.docker import Daemon, DockerUnavailable

UID = 10001
READY_TIMEOUT = 30.0
# The goal is 3 s; on a 2-core machine shared with the rest of the suite a start can take
# longer, so the tests allow more and report what they measured (see docs/image.md).
READY_BOUND = 15.0


@pytest.fixture(scope="session")
def docker_daemon() -> Iterator[Daemon]:
    try:
        daemon = docker.find_or_start()
    except DockerUnavailable as missing:
        pytest.skip(f"no Docker engine: {missing}")
    yield daemon
    if daemon.started_here:
        docker.stop()


@pytest.fixture(scope="session")
def tawa_image(docker_daemon: Daemon) -> str:
    reference = image.image_reference()
    try:
        image.build_image(docker_daemon, image.ensure_base(docker_daemon), reference)
    except image.ImageError as missing:
        pytest.skip(f"the image cannot be built here: {missing}")
    return reference


def volume_dir(root: Path, name: str) -> Path:
    """A host directory for a container's volume, writable by the image's user as a PVC would be."""
    path = root / name
    path.mkdir(parents=True, exist_ok=True)
    os.chown(path, UID, UID)
    return path


@dataclass
class Container:
    daemon: Daemon
    image: str
    args: list[str]
    env: dict[str, str] = field(default_factory=dict)
    volumes: dict[Path, str] = field(default_factory=dict)  # host path -> mount point
    name: str = field(default_factory=lambda: f"tawa-test-{uuid.uuid4().hex[:8]}")
    started_at: float = 0.0

    def docker(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run([docker.docker_cli(), *args], capture_output=True, text=True, check=check,
                              env=self.daemon.env(), timeout=120)

    def run(self) -> Container:
        mounts = [f"--volume={host}:{inside}" for host, inside in self.volumes.items()]
        env = [f"--env={k}={v}" for k, v in self.env.items()]
        self.started_at = time.monotonic()
        self.docker("run", "--detach", f"--name={self.name}", "--network=host", "--read-only", f"--user={UID}",
                    "--cap-drop=ALL", "--security-opt=no-new-privileges", "--tmpfs=/tmp", *mounts, *env,
                    self.image, *self.args)
        return self

    def wait_ready(self, url: str) -> float:
        """Seconds from `docker run` until `url` answers 200."""
        deadline = self.started_at + READY_TIMEOUT
        while time.monotonic() < deadline:
            try:
                if httpx.get(url, timeout=1).status_code == 200:
                    return time.monotonic() - self.started_at
            except httpx.HTTPError:
                pass
            if not self.running():
                break
            time.sleep(0.05)
        raise AssertionError(f"{self.args[:2]} not ready at {url}; its log:\n{self.logs()}")

    def running(self) -> bool:
        state = self.docker("inspect", "--format", "{{.State.Running}}", self.name, check=False)
        return state.stdout.strip() == "true"

    def logs(self) -> str:
        out = self.docker("logs", "--tail", "60", self.name, check=False)
        return out.stdout + out.stderr

    def kill(self) -> None:
        self.docker("kill", "--signal=KILL", self.name, check=False)

    def stop(self) -> None:
        self.docker("stop", "--time=20", self.name, check=False)

    def remove(self) -> None:
        self.docker("rm", "--force", self.name, check=False)


StartContainer = Callable[..., Container]


@pytest.fixture
def containers(docker_daemon: Daemon, tawa_image: str) -> Iterator[StartContainer]:
    """`containers(args, env={}, volumes={})` → a running Container; all removed at teardown."""
    started: list[Container] = []

    def start(args: Sequence[str], env: Mapping[str, str] | None = None,
              volumes: Mapping[Path, str] | None = None) -> Container:
        container = Container(docker_daemon, tawa_image, list(args), dict(env or {}), dict(volumes or {}))
        started.append(container)
        return container.run()

    yield start
    for container in started:
        print(f"--- {container.args[:2]} ({container.name})\n{container.logs()}")  # shown when a test failed
        container.remove()
