"""Wallet settlement throughput over HTTP, the way Janus drives it.

Starts real wallet servers (SQLite, then PostgreSQL on a throwaway cluster from
tests/fixtures/postgres.py), gives each of several caller orgs one large hold,
and has concurrent async clients send `POST /v1/settlements/batch` against those
holds: every item is its own ledger transaction (caller debit + provider earned
credit) and gas event, committed durably before the answer. Afterwards it checks
the ledger's integrity and that the counts match.

    python benchmarks/wallet_bench.py [--seconds 10] [--batch 500] [--clients 8] [--orgs 8]

The LAST line printed is one JSON object with `sqlite_settlements_per_s` and
`postgres_settlements_per_s` (plus the wallet server's CPU time per settlement and the
machine's load average, since the 2 cores are shared).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.report import record  # noqa: E402
from tawa.wallet.client import AsyncWalletClient, HoldRequest, SettleRequest  # noqa: E402
from tests.fixtures.postgres import start_cluster  # noqa: E402
from tests.fixtures.wallet import WalletServer, start_wallet_server  # noqa: E402


def setup(server: WalletServer, orgs: int) -> list[str]:
    """Caller orgs with purchased tokens and one big hold each; one provider org."""
    c = server.client
    c.create_wallet("provider")
    holds = []
    for i in range(orgs):
        org = f"caller{i}"
        c.create_wallet(org)
        c.purchase(org, 10**12)
    results = c.hold_batch([HoldRequest(f"caller{i}", 10**11, ttl_seconds=3600) for i in range(orgs)])
    for r in results:
        assert r.value is not None, r.body
        holds.append(r.value.id)
    return holds


async def drive(server: WalletServer, holds: list[str], seconds: float, batch: int, clients: int) -> tuple[int, float]:
    settled = 0
    failures: dict[int, int] = {}
    deadline = time.perf_counter() + seconds

    async def worker(n: int, client: AsyncWalletClient) -> None:
        nonlocal settled
        hold = holds[n % len(holds)]
        while time.perf_counter() < deadline:
            items = [SettleRequest(hold, "provider", 1, service="docman", route="/documents", method="POST",
                                   request_id=uuid.uuid4().hex) for _ in range(batch)]
            for r in await client.settle_batch(items):
                if r.status == 200:
                    settled += 1
                else:
                    failures[r.status] = failures.get(r.status, 0) + 1

    async with server.async_client(timeout=60) as client:
        start = time.perf_counter()
        await asyncio.gather(*(worker(n, client) for n in range(clients)))
        elapsed = time.perf_counter() - start
    if failures:
        raise SystemExit(f"settlements refused: {failures}")
    return settled, elapsed


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process (Linux), to report cost per settlement beside the rate."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(label: str, server: WalletServer, args: argparse.Namespace, result: dict[str, Any]) -> float:
    holds = setup(server, args.orgs)
    pid = server.proc.pid if server.proc else 0
    cpu0 = cpu_seconds(pid)
    settled, elapsed = asyncio.run(drive(server, holds, args.seconds, args.batch, args.clients))
    result[f"{label}_server_cpu_us_per_settlement"] = round((cpu_seconds(pid) - cpu0) / max(settled, 1) * 1e6, 1)
    check = server.client.integrity()
    events = server.client.gas_stats(by="service").events
    ok = check.ok and events == settled
    rate = settled / elapsed
    print(f"{label}: {settled} settlements in {elapsed:.1f}s = {rate:,.0f}/s "
          f"(batch {args.batch}, {args.clients} clients, {args.orgs} holds); integrity {'ok' if check.ok else 'FAILED'}"
          f", gas events {events}", flush=True)
    if not ok:
        raise SystemExit(f"{label}: integrity problems {check.problems[:5]} or event count mismatch")
    return rate


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--batch", type=int, default=500)
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--orgs", type=int, default=8)
    p.add_argument("--only", choices=["sqlite", "postgres"])
    args = p.parse_args()
    result: dict[str, Any] = {"batch": args.batch, "clients": args.clients, "seconds": args.seconds}
    with tempfile.TemporaryDirectory(prefix="wallet-bench-") as tmp:
        if args.only in (None, "sqlite"):
            server = start_wallet_server(Path(tmp))
            try:
                result["sqlite_settlements_per_s"] = round(run("sqlite", server, args, result))
            finally:
                server.close()
        if args.only in (None, "postgres"):
            cluster = start_cluster()
            try:
                server = start_wallet_server(Path(tmp), cluster.create_database("bench"))
                try:
                    result["postgres_settlements_per_s"] = round(run("postgres", server, args, result))
                finally:
                    server.close()
            finally:
                cluster.stop()
    result["load_average_1m"] = round(os.getloadavg()[0], 2)
    if args.only is None:  # a whole run: both databases
        record("wallet", result)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
