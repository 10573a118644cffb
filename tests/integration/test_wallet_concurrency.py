"""Concurrency over HTTP: 32 workers hammer holds, settlements and releases on a small
balance, on SQLite and on PostgreSQL. Nothing may be overdrawn, every token must be
accounted for, and no request may fail with "database is locked" or a 5xx."""

from __future__ import annotations

import random
import threading
import uuid
from collections import Counter

import httpx

from tests.fixtures.wallet import WalletServer

WORKERS = 32
ROUNDS = 12
BALANCE = 1_000


def test_32_workers_never_overdraw_and_conserve_tokens(wallet_each_db: WalletServer) -> None:
    server = wallet_each_db
    c = server.client
    c.create_wallet("payer")
    c.create_wallet("earner")
    c.purchase("payer", BALANCE)
    settled = Counter[str]()
    statuses = Counter[int]()
    errors: list[str] = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        try:
            work(n)
        except Exception as exc:  # a failed assertion in a thread must fail the test
            errors.append(f"worker {n}: {exc!r}")

    def work(n: int) -> None:
        rng = random.Random(n)
        with httpx.Client(base_url=server.url, timeout=30) as http:
            def post(path: str, body: object) -> httpx.Response:
                r = http.post(path, json=body, headers=server.headers(uuid.uuid4().hex))
                with lock:
                    statuses[r.status_code] += 1
                if r.status_code >= 500 or "locked" in r.text:
                    errors.append(f"{path} {r.status_code} {r.text[:200]}")
                return r

            for _ in range(ROUNDS):
                r = post("/v1/holds", {"wallet": "wallet-payer", "tokens": rng.randint(1, 120), "ttlSeconds": 60})
                if r.status_code != 201:
                    assert r.status_code == 402, r.text
                    continue
                hold = r.json()
                for _ in range(rng.randint(0, 3)):
                    tokens = rng.randint(1, 60)
                    s = post(f"/v1/holds/{hold['id']}/settle", {
                        "provider": "wallet-earner", "tokens": tokens, "service": "svc", "route": "/r",
                        "method": "POST", "requestId": uuid.uuid4().hex})
                    if s.status_code == 200:
                        with lock:
                            settled["tokens"] += tokens
                    else:
                        assert s.status_code == 422 and s.json()["error"] == "HOLD_EXCEEDED", s.text
                post(f"/v1/holds/{hold['id']}/release", None)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(WORKERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=240)
    assert not any(t.is_alive() for t in threads)
    assert errors == []
    assert statuses[201] > WORKERS and statuses[402] > 0, statuses  # contention really happened
    payer, earner = c.get_wallet("payer"), c.get_wallet("earner")
    assert payer.held == 0
    assert payer.balances.purchased + payer.balances.earned == BALANCE - settled["tokens"]
    assert earner.balances.earned == settled["tokens"] > 0
    assert payer.balances.intro == earner.balances.intro == 50_000
    events = c.gas_stats(by="service", org="payer")
    assert events.tokens == settled["tokens"]
    check = c.integrity()
    assert check.ok, check.problems
    assert "database is locked" not in server.log()
