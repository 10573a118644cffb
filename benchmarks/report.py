"""The figures every `make bench-*` / `make soak` run leaves behind.

    from benchmarks.report import record
    record("soak", {"seconds": 300, "calls": 12345, "ok": True})

`record(name, figures)` stores the run under `name` in `benchmarks/results.json`
(the command line that ran it, the machine — cores, memory, CPU — and the UTC
date) and rewrites the table in `benchmarks/README.md` between the two marker
lines, so the README always shows the latest figure of every benchmark.
`python benchmarks/report.py` only re-renders the table.

Set TAWA_BENCH_NO_RECORD=1 to run a benchmark without touching either file
(the tests do, so that a short CI form never overwrites the real figures).
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results.json"
README = HERE / "README.md"
BEGIN = "<!-- figures:begin (written by benchmarks/report.py; do not edit by hand) -->"
END = "<!-- figures:end -->"

README_HEAD = """# Benchmarks

Load, scale and crash measurements, each with its own runner (never timed unit tests).
Every run of a `make bench-*` or `make soak` target records its figures here through
`benchmarks/report.py` (`record(name, figures)`), with the command, the machine and the date.

"""


def machine() -> dict[str, Any]:
    """Cores, memory and CPU model of this machine (Linux /proc; best effort elsewhere)."""
    memory_gb: float | None = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_gb = round(int(line.split()[1]) / 1024 / 1024, 1)
                break
    except OSError:
        pass
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cores": os.cpu_count() or 0, "memory_gb": memory_gb, "cpu": cpu}


def command_line() -> str:
    """How this process was started, relative to the repository where possible."""
    argv = list(sys.argv)
    if argv:
        try:
            argv[0] = str(Path(argv[0]).resolve().relative_to(HERE.parent))
        except ValueError:
            pass
    return "python " + shlex.join(argv) if argv and argv[0].endswith(".py") else shlex.join(argv)


def load() -> dict[str, Any]:
    try:
        data = json.loads(RESULTS.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def _atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as out:
        out.write(text)
    os.replace(tmp, path)


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:,.3f}".rstrip("0").rstrip(".")
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return str(value).replace("|", "\\|").replace("\n", " ")


def render_table(results: dict[str, Any]) -> str:
    lines = ["| benchmark | figure | value | command | machine | date (UTC) |",
             "|---|---|---|---|---|---|"]
    for name in sorted(results):
        run = results[name]
        m = run.get("machine", {})
        where = f"{m.get('cores', '?')} cores, {m.get('memory_gb', '?')} GB" + (f", {m['cpu']}" if m.get("cpu") else "")
        first = True
        for figure, value in run.get("figures", {}).items():
            lines.append(f"| {name if first else ''} | {figure} | {_cell(value)} | "
                         f"{'`' + run.get('command', '') + '`' if first else ''} | {where if first else ''} | "
                         f"{run.get('date', '') if first else ''} |")
            first = False
    return "\n".join(lines)


def render_readme(results: dict[str, Any]) -> None:
    """Replace the figures block of benchmarks/README.md (create the file if needed)."""
    block = f"{BEGIN}\n{render_table(results)}\n{END}"
    try:
        text = README.read_text()
    except FileNotFoundError:
        text = README_HEAD + f"{BEGIN}\n{END}\n"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        tail = rest.split(END, 1)[1]
        text = head + block + tail
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    _atomic_write(README, text)


def record(name: str, figures: dict[str, Any], command: str | None = None) -> dict[str, Any] | None:
    """Store one run's figures under `name` and refresh the README table.

    Returns the stored entry, or None when TAWA_BENCH_NO_RECORD is set.
    """
    if os.environ.get("TAWA_BENCH_NO_RECORD"):
        return None
    entry = {"command": command or command_line(), "machine": machine(),
             "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M"), "figures": figures}
    results = load()
    results[name] = entry
    # Not sorted: each bench's figures stay in the order it prints them.
    _atomic_write(RESULTS, json.dumps(results, indent=2) + "\n")
    render_readme(results)
    return entry


if __name__ == "__main__":
    render_readme(load())
