"""Crash safety: kill -9 the server in the middle of a settlement burst, restart it on the
same database, and check that nothing is half-written, every answer the clients got
before the crash is still true, and replaying every key applies each exactly once."""

from __future__ import annotations

import threading
import time

from tawa.wallet.client import SettleRequest, WalletClient, WalletError
from tests.fixtures.wallet import WalletServer

BATCHES, ITEMS, SENDERS = 60, 100, 3


def test_kill_9_mid_burst_then_restart_and_replay(wallet_each_db: WalletServer) -> None:
    server = wallet_each_db
    c = server.client
    c.create_wallet("caller")
    c.create_wallet("provider")
    c.purchase("caller", 1_000_000)
    hold = c.hold("caller", 1_000_000, ttl_seconds=3600)
    batches = [[SettleRequest(hold.id, "provider", 3, "docman", "/documents", "POST", f"req-{b}-{i}",
                              key=f"crash-{b}-{i}") for i in range(ITEMS)] for b in range(BATCHES)]
    acknowledged: dict[str, dict] = {}
    lock = threading.Lock()

    def sender(n: int) -> None:
        with WalletClient(server.url, server.token, timeout=10) as client:
            for batch in batches[n::SENDERS]:
                try:
                    results = client.settle_batch(batch)
                except WalletError:  # the server died under us
                    return
                with lock:
                    acknowledged.update({r.key: r.body for r in results if r.status == 200})

    threads = [threading.Thread(target=sender, args=(n,)) for n in range(SENDERS)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 60
    while len(acknowledged) < 10 * ITEMS and time.monotonic() < deadline:
        time.sleep(0.005)
    server.kill()
    for t in threads:
        t.join(timeout=60)
    assert 0 < len(acknowledged) < BATCHES * ITEMS, "the crash must land mid-burst"

    server.start()
    check = c.integrity()
    assert check.ok, check.problems
    assert check.counts["gasEvents"] == check.counts["transactions"] - 4  # 2 grants, 1 purchase, 1 hold
    earned = c.get_wallet("provider").balances.earned
    assert earned % 3 == 0 and earned >= 3 * len(acknowledged), "an acknowledged settlement was lost"

    every = [item for batch in batches for item in batch]
    replies = {}
    for batch in batches:
        replies.update({r.key: r for r in c.settle_batch(batch)})
    assert all(r.status == 200 for r in replies.values())
    assert all(replies[k].body == body for k, body in acknowledged.items()), "a replay changed a first answer"
    assert c.get_wallet("provider").balances.earned == 3 * len(every)
    assert c.get_wallet("caller").balances.purchased == 1_000_000 - 3 * len(every)
    assert c.gas_stats(by="service", org="caller").events == len(every)
    assert c.integrity().ok
