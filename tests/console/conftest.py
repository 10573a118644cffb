"""A real console server (`tawa console serve`, a subprocess on a free port) in front of a real
wallet, and an org world to log in to: an owner and a viewer key of org A, an owner key of org B."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.fixtures.ports import free_port, start_on_a_free_port
from tests.fixtures.wallet import WalletServer, start_wallet_server

STARTUP_TIMEOUT = 30.0
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass
class ConsoleServer:
    wallet_url: str
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ConsoleServer:
        cmd = [sys.executable, "-m", "tawa.cli.main", "console", "serve", "--port", str(self.port),
               "--wallet-url", self.wallet_url]
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(cmd, env={**os.environ, **self.env}, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"console exited with {self.proc.returncode}: {self.log_path.read_text()}")
            try:
                if httpx.get(f"{self.url}/login", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("console not ready")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        self.proc = None


def start_console(directory: Path, wallet_url: str, env: dict[str, str] | None = None) -> ConsoleServer:
    server = ConsoleServer(wallet_url, directory / f"console-{uuid.uuid4().hex[:6]}.log", env=env or {})
    return start_on_a_free_port(server, "console")


@dataclass
class Org:
    name: str
    owner: str  # org keys
    viewer: str


@dataclass
class World:
    wallet: WalletServer
    console: ConsoleServer
    a: Org
    b: Org


def make_org(wallet: WalletServer, prefix: str, tokens: int) -> Org:
    org, c = f"{prefix}-{uuid.uuid4().hex[:6]}", wallet.client
    c.create_wallet(org)
    c.purchase(org, tokens)
    return Org(org, c.create_key(org, "owner", "ci owner").key, c.create_key(org, "viewer", "ci viewer").key)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    directory = tmp_path_factory.mktemp("console")
    wallet = start_wallet_server(directory)
    console = start_console(directory, wallet.url)
    yield World(wallet, console, make_org(wallet, "acme", 12_345), make_org(wallet, "bravo", 67_890))
    console.stop()
    wallet.close()


class Visitor:
    """A browser without a browser: cookies kept, redirects not followed, forms' CSRF read from pages."""

    def __init__(self, url: str) -> None:
        self.http = httpx.Client(base_url=url, timeout=10)

    def __enter__(self) -> Visitor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.close()

    def get(self, path: str) -> httpx.Response:
        return self.http.get(path)

    def post(self, path: str, data: dict[str, str]) -> httpx.Response:
        return self.http.post(path, data=data)

    def csrf(self, path: str = "/wallet") -> str:
        found = CSRF.search(self.get(path).text)
        assert found, path
        return found.group(1)

    def login(self, key: str) -> httpx.Response:
        return self.post("/login", {"key": key, "csrf": self.csrf("/login")})
