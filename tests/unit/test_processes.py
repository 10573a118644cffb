"""Child servers die with the process that started them, and only with it."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

from tawa.devcluster.processes import Process

SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]


def gone(pid: int, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def test_a_process_started_from_a_helper_thread_outlives_the_thread(tmp_path: Path) -> None:
    """Linux ties PR_SET_PDEATHSIG to the forking thread: a server restarted from a chaos
    thread or a thread pool used to be SIGKILLed when that thread ended (the soak saw Janus
    and the operator die with -9 right after its chaos thread stopped)."""
    started: list[Process] = []
    thread = threading.Thread(target=lambda: started.append(Process("sleeper", SLEEPER, tmp_path / "s.log").start()))
    thread.start()
    thread.join()
    time.sleep(0.5)
    try:
        assert started[0].alive(), f"killed with {started[0].popen.returncode} when its starting thread ended"
    finally:
        started[0].kill()


def test_children_die_when_the_process_that_started_them_is_killed(tmp_path: Path) -> None:
    """A test run or benchmark killed with -9 leaves no servers behind, even ones it
    started from a helper thread."""
    parent = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys, threading, time
        from pathlib import Path
        from tawa.devcluster.processes import Process
        main = Process("main", {SLEEPER!r}, Path({str(tmp_path)!r}) / "a.log").start()
        box = []
        helper = lambda: box.append(Process("helper", {SLEEPER!r}, Path({str(tmp_path)!r}) / "b.log").start())
        t = threading.Thread(target=helper)
        t.start(); t.join()
        print(main.pid, box[0].pid, flush=True)
        time.sleep(60)
    """)], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    children = [int(pid) for pid in parent.stdout.readline().split()]
    assert len(children) == 2 and not any(gone(pid, timeout=0.3) for pid in children)
    parent.kill()
    parent.wait()
    assert all(gone(pid) for pid in children), f"children {children} outlived their killed parent"


def test_a_detached_process_outlives_the_process_that_started_it(tmp_path: Path) -> None:
    """`tawa dev up --detach` starts its stack with die_with_parent=False."""
    parent = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        from pathlib import Path
        from tawa.devcluster.processes import Process
        p = Process("detached", {SLEEPER!r}, Path({str(tmp_path)!r}) / "c.log", die_with_parent=False).start()
        print(p.pid, flush=True)
    """)], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    pid = int(parent.stdout.readline())
    parent.wait()
    try:
        assert not gone(pid, timeout=0.5), "a detached process died with the process that started it"
    finally:
        os.kill(pid, 9)
