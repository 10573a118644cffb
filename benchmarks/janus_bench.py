"""Janus throughput and added latency, against a direct path and Debian's nginx.

    .venv/bin/python benchmarks/janus_bench.py [--connections 64] [--duration 10] [--workers N]

One run measures, with wrk on 127.0.0.1 against the same upstream (an nginx
server answering a small static JSON body):

- direct_rps             wrk → upstream
- janus_passthrough_rps  wrk → Janus → upstream, on a `gas: 0` route
- janus_metered_rps      wrk → Janus → upstream, on a `gas: 1` route, wallet live
- nginx_rps              wrk → nginx (plain reverse proxy, keep-alive pool) → upstream
- added_p50_ms / added_p99_ms  metered minus direct latency percentiles, measured
  with one connection (no queueing: the cost of the hop itself); the same
  figures under full load are given as loaded_added_p50_ms / loaded_added_p99_ms.

The last line printed is one JSON object. nginx and wrk are installed with
apt-get when missing. The wallet is a real `tawa wallet` server on SQLite.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.report import record  # noqa: E402

ORG, OWNER = "benchorg", "benchowner"


def ensure_tools() -> None:
    missing = [t for t in ("nginx", "wrk") if shutil.which(t) is None and not Path(f"/usr/sbin/{t}").exists()]
    if not missing:
        return
    print(f"installing {' '.join(missing)} with apt-get", file=sys.stderr)
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    subprocess.run([*sudo, "apt-get", "update", "-qq"], check=True)
    subprocess.run([*sudo, "apt-get", "install", "-y", "-qq", *missing], check=True,
                   env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})


def nginx_binary() -> str:
    return shutil.which("nginx") or "/usr/sbin/nginx"


def free_port() -> int:
    from tests.fixtures.ports import free_port as pick

    return pick()


NGINX_CONF = """
daemon off;
master_process on;
worker_processes {workers};
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    keepalive_requests 1000000;
    upstream app {{ server 127.0.0.1:{upstream}; keepalive 128; }}
    server {{
        listen 127.0.0.1:{upstream} reuseport backlog=4096;
        location / {{ default_type application/json; return 200 '{{"ok":true,"service":"bench"}}'; }}
    }}
    server {{
        listen 127.0.0.1:{proxy} reuseport backlog=4096;
        location / {{
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}
}}
"""


def start_nginx(directory: Path, upstream: int, proxy: int, workers: int) -> subprocess.Popen[bytes]:
    for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (directory / sub).mkdir(parents=True, exist_ok=True)
    conf = directory / "nginx.conf"
    conf.write_text(NGINX_CONF.format(dir=directory, upstream=upstream, proxy=proxy, workers=workers))
    proc = subprocess.Popen([nginx_binary(), "-c", str(conf), "-p", str(directory)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True)
    wait_http(f"http://127.0.0.1:{upstream}/")
    return proc


def wait_http(url: str, headers: dict[str, str] | None = None, timeout: float = 30) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, headers=headers, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{url} did not come up")


def parse_wrk(text: str) -> dict[str, float]:
    def number(pattern: str) -> float:
        m = re.search(pattern, text)
        if not m:
            raise RuntimeError(f"wrk output lacks {pattern!r}:\n{text}")
        return float(m.group(1))

    def ms(label: str) -> float:
        m = re.search(rf"^\s*{label}%\s+([\d.]+)(us|ms|s)\b", text, re.MULTILINE)
        if not m:
            raise RuntimeError(f"wrk output lacks the {label}th percentile:\n{text}")
        return float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]

    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    errors = re.search(r"Socket errors:.*", text)
    return {"rps": number(r"Requests/sec:\s+([\d.]+)"), "requests": number(r"(\d+) requests in"),
            "p50_ms": ms("50"), "p99_ms": ms("99"), "non2xx": float(non2xx.group(1)) if non2xx else 0.0,
            "socket_errors": 1.0 if errors else 0.0}


def wrk(url: str, connections: int, duration: float, headers: dict[str, str] | None = None) -> dict[str, float]:
    threads = max(1, min(connections, 2))
    cmd = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{max(1, round(duration))}s", "--latency", url]
    for name, value in (headers or {}).items():
        cmd[1:1] = ["-H", f"{name}: {value}"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return parse_wrk(out)


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and all its descendants (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        for task in Path(f"/proc/{pid}/task").iterdir():
            for child in (task / "children").read_text().split():
                total += cpu_seconds(int(child))
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    return total


def measured(run: Any, pids: dict[str, int]) -> tuple[dict[str, float], dict[str, float]]:
    """A wrk run plus the CPU microseconds per request each watched process spent on it."""
    before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    result = run()
    time.sleep(0.3)  # the last settlement batch
    cost = {name: round((cpu_seconds(pid) - before[name]) / max(result["requests"], 1) * 1e6, 1)
            for name, pid in pids.items()}
    return result, cost


def registry_docs(upstream_url: str) -> list[dict[str, Any]]:
    from tests.fixtures.janus import component_doc

    routes = [{"path": "/free", "methods": ["GET"], "auth": "service", "gas": 0},
              {"path": "/metered", "methods": ["GET"], "auth": "service", "gas": 1}]
    return [component_doc("bench", OWNER, upstream_url, routes)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connections", type=int, default=64, help="wrk connections for the throughput runs")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per throughput run")
    parser.add_argument("--latency-duration", type=float, default=5.0, help="seconds per one-connection run")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="Janus worker processes")
    args = parser.parse_args()
    ensure_tools()

    from tests.fixtures.janus import service_token, start_janus
    from tests.fixtures.wallet import start_wallet_server

    work = Path(tempfile.mkdtemp(prefix="janus-bench-"))
    upstream_port, nginx_port = free_port(), free_port()
    nginx = start_nginx(work / "nginx", upstream_port, nginx_port, args.workers)
    wallet = janus = None
    try:
        wallet = start_wallet_server(work)
        wallet.client.create_wallet(ORG)
        wallet.client.create_wallet(OWNER)
        wallet.client.purchase(ORG, 100_000_000)
        upstream = f"http://127.0.0.1:{upstream_port}"
        janus = start_janus(work / "janus", wallet.url, wallet.token, registry_docs(upstream),
                            env={"TAWA_JANUS_LOG_LEVEL": "warning"}, args=["--workers", str(args.workers)])
        auth = {"Authorization": f"Bearer {service_token(ORG, 'bench-caller', ttl=3600)}"}
        free, metered = janus.proxy("bench", "/free"), janus.proxy("bench", "/metered")
        wait_http(metered, auth)
        before = wallet.client.get_wallet(ORG).balances.purchased
        c, d = args.connections, args.duration
        warm = wrk(metered, c, 2, auth)  # warm-up: pools, holds grown to their full chunk
        assert janus.proc is not None and janus.proc.pid is not None and wallet.proc is not None
        pids = {"janus": janus.proc.pid, "wallet": wallet.proc.pid}
        load_before = os.getloadavg()[0]
        results: dict[str, dict[str, float]] = {"direct": wrk(upstream + "/metered", c, d)}
        results["passthrough"], passthrough_cpu = measured(lambda: wrk(free, c, d, auth), pids)
        results["metered"], metered_cpu = measured(lambda: wrk(metered, c, d, auth), pids)
        results["nginx"] = wrk(f"http://127.0.0.1:{nginx_port}/metered", c, d)
        lat_direct = wrk(upstream + "/metered", 1, args.latency_duration)
        lat_metered = wrk(metered, 1, args.latency_duration, auth)
        janus.stop()  # flushes settlements and releases holds
        janus = None
        charged = before - wallet.client.get_wallet(ORG).balances.purchased
        r = results
        report = {
            "concurrency": c,
            "latency_concurrency": 1,
            "janus_workers": args.workers,
            "duration_s": d,
            "direct_rps": round(r["direct"]["rps"]),
            "janus_passthrough_rps": round(r["passthrough"]["rps"]),
            "janus_metered_rps": round(r["metered"]["rps"]),
            "nginx_rps": round(r["nginx"]["rps"]),
            "added_p50_ms": round(lat_metered["p50_ms"] - lat_direct["p50_ms"], 3),
            "added_p99_ms": round(lat_metered["p99_ms"] - lat_direct["p99_ms"], 3),
            "loaded_added_p50_ms": round(r["metered"]["p50_ms"] - r["direct"]["p50_ms"], 3),
            "loaded_added_p99_ms": round(r["metered"]["p99_ms"] - r["direct"]["p99_ms"], 3),
            "metering_cost": round(1 - r["metered"]["rps"] / r["passthrough"]["rps"], 3),
            "metered_vs_nginx": round(r["metered"]["rps"] / r["nginx"]["rps"], 3),
            "metered_2xx": int(sum(x["requests"] - x["non2xx"] for x in (warm, r["metered"], lat_metered))),
            "tokens_charged": charged,
            "non2xx": {k: int(v["non2xx"]) for k, v in r.items()},
            # CPU per request, robust to a busy machine: where metering's cost goes.
            "janus_cpu_us_per_passthrough_req": passthrough_cpu["janus"],
            "janus_cpu_us_per_metered_req": metered_cpu["janus"],
            "wallet_cpu_us_per_metered_req": metered_cpu["wallet"],
            "cpus": os.cpu_count(),
            "load_avg_1m_before": round(load_before, 2),
        }
        for name, v in r.items():
            print(f"{name:12s} {v['rps']:10.0f} rps  p50 {v['p50_ms']:.3f} ms  p99 {v['p99_ms']:.3f} ms",
                  file=sys.stderr)
        record("janus", report)
        print(json.dumps(report))
    finally:
        if janus is not None:
            janus.kill()
        if wallet is not None:
            wallet.close()
        os.killpg(nginx.pid, 15)
        nginx.wait(10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
