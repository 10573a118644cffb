"""Child processes with their logs kept, started and stopped as one group."""

from __future__ import annotations

import ctypes
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


PR_SET_PDEATHSIG = 1
# Looked up before any fork: loading a library in a child forked from a threaded
# process could wait on a lock another thread held at the fork.
_prctl = ctypes.CDLL("libc.so.6", use_errno=True).prctl if sys.platform == "linux" else None


def _die_with_parent() -> None:
    """Runs in the child: SIGKILL it when the process that started it dies, however
    that dies, so a killed test run or benchmark leaves no servers behind."""
    assert _prctl is not None
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


_Start = Callable[[], "subprocess.Popen[bytes]"]


class _Forker:
    """Forks every child from one daemon thread that lives as long as the process.

    Linux sends PR_SET_PDEATHSIG when the *thread* that forked the child exits, not the
    process: a server (re)started from a short-lived thread (a chaos loop, a thread pool)
    would be SIGKILLed the moment that thread ended."""

    def __init__(self) -> None:
        self._work: queue.SimpleQueue[tuple[_Start, Future[subprocess.Popen[bytes]]]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def popen(self, start: _Start) -> subprocess.Popen[bytes]:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._serve, name="tawa-forker", daemon=True)
                self._thread.start()
        done: Future[subprocess.Popen[bytes]] = Future()
        self._work.put((start, done))
        return done.result()

    def _serve(self) -> None:
        while True:
            start, done = self._work.get()
            try:
                done.set_result(start())
            except BaseException as exc:  # noqa: BLE001 — handed back to the caller
                done.set_exception(exc)


_FORKER = _Forker()


@dataclass
class Process:
    name: str
    argv: Sequence[str]
    log: Path
    env: dict[str, str] | None = None
    die_with_parent: bool = True  # False for `tawa dev up --detach`, whose stack outlives it
    popen: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def start(self) -> Process:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        dies_with_parent = self.die_with_parent and sys.platform == "linux"
        with open(self.log, "ab") as log:
            def start() -> subprocess.Popen[bytes]:
                return subprocess.Popen(
                    list(self.argv), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                    env=self.env, start_new_session=True,
                    preexec_fn=_die_with_parent if dies_with_parent else None)

            self.popen = _FORKER.popen(start) if dies_with_parent else start()
        return self

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen else None

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"

    def stop(self, timeout: float = 10.0, sig: int = signal.SIGTERM) -> None:
        if not self.alive():
            return
        assert self.popen is not None
        try:
            os.killpg(self.popen.pid, sig)
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait()
        except ProcessLookupError:
            pass

    def kill(self) -> None:
        """kill -9: no chance to clean up, as in a crash."""
        self.stop(timeout=5.0, sig=signal.SIGKILL)


class StartupError(RuntimeError):
    pass


def wait_until(check: Callable[[], bool], what: str, timeout: float, watch: Process | None = None) -> None:
    """Poll `check` until it is true; fail early, with the log, if `watch` dies."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if watch is not None and not watch.alive():
            raise StartupError(f"{watch.name} exited while waiting for {what}; its log:\n{watch.tail()}")
        try:
            if check():
                return
        except Exception:  # not up yet: connection refused, 503, ...
            pass
        time.sleep(0.2)
    tail = f"; {watch.name}'s log:\n{watch.tail()}" if watch else ""
    raise StartupError(f"timed out after {timeout:.0f}s waiting for {what}{tail}")
