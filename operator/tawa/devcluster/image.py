"""Build the Tawa image with no registry: a Debian base, an offline wheelhouse, `docker build`.

No registry can be pulled from where this project is built, so nothing here asks one:
- the base image is made from Debian's packages (``debootstrap``), its tarball cached
  under the tawa cache and keyed by its package list, then ``docker import``-ed;
- the Python dependencies are the locked set (``requirements.lock``, with hashes),
  fetched and verified on the host into a wheelhouse keyed by the lock, which goes into
  the build context; the Dockerfile installs from it with ``--no-index``;
- the Dockerfile builds with the classic builder (no ``# syntax`` line to pull).

    python -m tawa.devcluster.image      # what `make image` runs; last lines DOCKER_HOST=... IMAGE=...
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tawa import __version__
from tawa.devcluster.build import cache_root
from tawa.devcluster.docker import Daemon, DockerUnavailable, docker_cli, find_or_start, own_host

REPO = Path(__file__).resolve().parents[3]
LOCK = REPO / "requirements.lock"
WHEELHOUSE_IN_CONTEXT = REPO / "build" / "wheelhouse"

DEBIAN_SUITE = "bookworm"
DEBIAN_MIRROR = "http://deb.debian.org/debian"
BASE_PACKAGES = ("python3", "python3-venv", "ca-certificates")
# Left out of the base: apt's lists and caches (the Dockerfile installs nothing with apt), and
# documentation, manuals and translations (~50 MB no program here reads).
BASE_PRUNED = ("var/cache/apt/archives", "var/lib/apt/lists", "usr/share/doc", "usr/share/man",
               "usr/share/info", "usr/share/locale")
IMAGE_REPOSITORY = "tawa"
IMAGE_PYTHON = (3, 11)  # Debian bookworm's python3, and python:3.11-slim


class ImageError(RuntimeError):
    """A build that cannot go on, in one line that names the fix."""


def _key(*parts: str) -> str:
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Base:
    tarball: Path
    reference: str


def base_spec() -> Base:
    key = _key(DEBIAN_SUITE, DEBIAN_MIRROR, "minbase", *BASE_PACKAGES, *BASE_PRUNED)
    return Base(cache_root() / "base" / f"debian-{DEBIAN_SUITE}-{key}.tar", f"tawa-base:{DEBIAN_SUITE}-{key}")


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _debootstrap() -> str:
    found = shutil.which("debootstrap")
    if found is None:
        raise ImageError("no `debootstrap` to make the Debian base image: install it (on Debian: "
                         "`make docker-engine`, i.e. apt-get install debootstrap), or build with "
                         "--build-arg PYTHON_IMAGE=python:3.11-slim where a registry is reachable")
    return found


def make_base_tarball(base: Base) -> None:
    """debootstrap a minimal Debian with Python 3.11 into a tarball (~2 min, once per package list)."""
    debootstrap = _debootstrap()
    base.tarball.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="tawa-base-", dir=base.tarball.parent) as work:
        root = Path(work) / "root"
        _say(f"+ debootstrap {DEBIAN_SUITE} (the base image, once; ~2 min)")
        subprocess.run([debootstrap, "--variant=minbase", f"--include={','.join(BASE_PACKAGES)}", DEBIAN_SUITE,
                        str(root), DEBIAN_MIRROR], check=True, stdout=subprocess.DEVNULL)
        for leftover in BASE_PRUNED:
            shutil.rmtree(root / leftover, ignore_errors=True)
        partial = Path(work) / "base.tar"
        subprocess.run(["tar", "--numeric-owner", "-C", str(root), "-cf", str(partial), "."], check=True)
        partial.replace(base.tarball)  # atomic: a killed run never leaves half a tarball in the cache


def _has_image(daemon: Daemon, reference: str) -> bool:
    return subprocess.run([docker_cli(), "image", "inspect", reference], capture_output=True,
                          env=daemon.env()).returncode == 0


def ensure_base(daemon: Daemon) -> str:
    base = base_spec()
    if _has_image(daemon, base.reference):
        return base.reference
    if not base.tarball.exists():
        make_base_tarball(base)
    _say(f"+ docker import {base.tarball.name} {base.reference}")
    with open(base.tarball, "rb") as tarball:
        subprocess.run([docker_cli(), "import", "-", base.reference], stdin=tarball, check=True,
                       stdout=subprocess.DEVNULL, env=daemon.env())
    return base.reference


def wheelhouse_dir() -> Path:
    return cache_root() / "wheelhouse" / _key(LOCK.read_text(), sys.platform, *map(str, IMAGE_PYTHON))


def ensure_wheelhouse() -> Path:
    """The locked set as wheels, verified against the lock's hashes, fetched once per lock."""
    if not LOCK.exists():
        raise ImageError(f"no {LOCK.name}: run `make lock` to write it")
    if sys.version_info[:2] != IMAGE_PYTHON:
        # The wheels are the host's: compiled ones only install on the same Python as the image's.
        raise ImageError(f"the wheelhouse is built with this Python ({sys.version.split()[0]}), and the image's is "
                         f"{'.'.join(map(str, IMAGE_PYTHON))}: run `make image` with PYTHON=python3.11 "
                         "(after `make clean`)")
    wheels = wheelhouse_dir()
    if (wheels / ".complete").exists():
        return wheels
    partial = wheels.with_name(wheels.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    _say(f"+ pip wheel --require-hashes -r {LOCK.name} (the wheelhouse, once per lock)")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--require-hashes", "--no-deps",
                    "-r", str(LOCK), "-w", str(partial)], check=True)
    (partial / ".complete").touch()
    shutil.rmtree(wheels, ignore_errors=True)
    partial.replace(wheels)
    for stale in wheels.parent.iterdir():  # an earlier lock's wheels: the cache keeps one set
        if stale != wheels and not stale.name.endswith(".partial"):
            shutil.rmtree(stale, ignore_errors=True)
    return wheels


def _stage_wheelhouse(wheels: Path) -> None:
    """Hard links (or copies) into build/wheelhouse: the build context cannot follow a symlink out of it."""
    shutil.rmtree(WHEELHOUSE_IN_CONTEXT, ignore_errors=True)
    WHEELHOUSE_IN_CONTEXT.mkdir(parents=True)
    for wheel in wheels.glob("*.whl"):
        target = WHEELHOUSE_IN_CONTEXT / wheel.name
        try:
            os.link(wheel, target)
        except OSError:
            shutil.copy2(wheel, target)


def image_reference() -> str:
    return f"{IMAGE_REPOSITORY}:{__version__}"


def build_image(daemon: Daemon, base: str, reference: str) -> None:
    _stage_wheelhouse(ensure_wheelhouse())
    _say(f"+ docker build --build-arg PYTHON_IMAGE={base} -t {reference} .")
    # The classic builder: BuildKit would want to pull its frontend and, on some versions, the base by digest.
    env = {**daemon.env(), "DOCKER_BUILDKIT": "0"}
    subprocess.run([docker_cli(), "build", "-q", "--build-arg", f"PYTHON_IMAGE={base}", "-t", reference,
                    str(REPO)], check=True, env=env, stdout=subprocess.DEVNULL)
    prune_old_build_stages(daemon)


def prune_old_build_stages(daemon: Daemon) -> None:
    """Keeps the cached data root from growing by a build stage per source change: on our own daemon
    only (never someone else's), every untagged image but the newest (the build stage just made,
    which the next build reuses) is removed."""
    if daemon.host != own_host():
        return
    listed = subprocess.run([docker_cli(), "images", "--filter", "dangling=true", "--quiet"], check=True,
                            capture_output=True, text=True, env=daemon.env()).stdout.split()
    stale = list(dict.fromkeys(listed))[1:]  # newest first
    if stale:
        subprocess.run([docker_cli(), "rmi", *stale], capture_output=True, env=daemon.env())


def image_size(daemon: Daemon, reference: str) -> int:
    size = subprocess.run([docker_cli(), "image", "inspect", "--format", "{{.Size}}", reference], check=True,
                          capture_output=True, text=True, env=daemon.env())
    return int(size.stdout.strip())


def make_image() -> tuple[Daemon, str]:
    daemon = find_or_start()
    reference = image_reference()
    build_image(daemon, ensure_base(daemon), reference)
    return daemon, reference


def main() -> int:
    started = time.monotonic()
    try:
        daemon, reference = make_image()
    except (DockerUnavailable, ImageError) as missing:
        print(f"error: {missing}", file=sys.stderr)
        return 1
    except subprocess.CalledProcessError as failed:
        print(f"error: `{' '.join(map(str, failed.cmd))[:200]}` failed (exit {failed.returncode})", file=sys.stderr)
        return 1
    megabytes = image_size(daemon, reference) / 1e6
    _say(f"{reference}: {megabytes:.0f} MB, made in {time.monotonic() - started:.0f} s")
    if daemon.started_here:
        _say("(the daemon keeps running; stop it with `make docker-stop`)")
    print(f"DOCKER_HOST={daemon.host}")
    print(f"IMAGE={reference}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
