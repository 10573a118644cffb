"""Where the engine or debootstrap cannot be had: one clear line naming what is missing and how
to get it, a non-zero exit, and nothing started. No daemon is needed for these."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tawa.devcluster import image


def _run(module: str, tmp_path: Path, path: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "DOCKER_HOST"}
    env.update({"PATH": path, "TAWA_DOCKER_RUN_DIR": str(tmp_path / "run"), "TAWA_CACHE_DIR": str(tmp_path)})
    return subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True, env=env,
                          timeout=60)


def test_no_docker_command_is_one_line_naming_the_package(tmp_path: Path) -> None:
    for module in ("tawa.devcluster.docker", "tawa.devcluster.image"):
        result = _run(module, tmp_path, str(tmp_path / "empty"))
        assert result.returncode == 1
        assert result.stdout == ""
        assert result.stderr.strip().splitlines() == [
            "error: no `docker` command: install Docker (on Debian: `make docker-engine`, i.e. apt-get install "
            "docker.io)"]


def test_no_dockerd_is_one_line_naming_the_package(tmp_path: Path) -> None:
    docker = subprocess.run(["sh", "-c", "command -v docker"], capture_output=True, text=True).stdout.strip()
    if not docker:
        pytest.skip("needs the docker command itself, to leave only dockerd off PATH")
    tools = tmp_path / "bin"
    tools.mkdir()
    (tools / "docker").symlink_to(docker)
    result = _run("tawa.devcluster.docker", tmp_path, str(tools), "start")
    assert result.returncode == 1
    assert "error: no `dockerd`: install the Docker engine" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "docker").exists()  # no data root made for a daemon that cannot start


def test_no_debootstrap_names_it_and_the_registry_alternative(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("TAWA_CACHE_DIR", str(tmp_path))
    with pytest.raises(image.ImageError) as missing:
        image.make_base_tarball(image.base_spec())
    assert str(missing.value).startswith("no `debootstrap` to make the Debian base image: install it")
    assert "PYTHON_IMAGE=python:3.11-slim" in str(missing.value)
    assert list(tmp_path.iterdir()) == []  # nothing half-made in the cache
