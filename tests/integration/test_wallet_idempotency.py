"""Idempotency under concurrency: every mutation sent 1–5 times at once with one key has
exactly one effect, and every sender ends with the same answer. A sender that arrives
while the first is running gets 409 IDEMPOTENCY_IN_FLIGHT and, retrying, the first answer,
marked `Idempotent-Replayed: true`; the one that made the effect gets no such mark."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tawa.names import wallet_id
from tests.fixtures.wallet import WalletServer


@pytest.fixture
def server(module_wallet: WalletServer) -> WalletServer:
    return module_wallet


Answer = tuple[int, Any, bool]  # status, body, marked replayed


def send_concurrently(server: WalletServer, path: str, body: Any, copies: int) -> list[Answer]:
    key = f"idem-{uuid.uuid4().hex}"
    barrier = threading.Barrier(copies)
    answers: list[Answer] = []
    raw_409: list[str] = []

    def send() -> None:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            barrier.wait()
            for _ in range(3000):  # up to 30 s on a busy machine
                r = http.post(path, json=body, headers=server.headers(key))
                if r.status_code != 409:
                    replayed = r.headers.get("Idempotent-Replayed") == "true"
                    answers.append((r.status_code, finish_batch(http, path, body, r.json()), replayed))
                    return
                raw_409.append(r.json()["error"])
                time.sleep(0.01)

    def finish_batch(http: httpx.Client, path: str, body: Any, answer: Any) -> Any:
        """A batch answers per item: items still running elsewhere are resent, as the client does."""
        if not path.endswith("/batch"):
            return answer
        results = answer["results"]
        for _ in range(3000):  # up to 30 s on a busy machine
            running = [i for i, r in enumerate(results) if r["status"] == 409]
            if not running:
                break
            raw_409.extend(results[i]["body"]["error"] for i in running)
            time.sleep(0.01)
            again = http.post(path, json={"items": [body["items"][i] for i in running]},
                              headers=server.headers(uuid.uuid4().hex)).json()["results"]
            for i, r in zip(running, again, strict=True):
                results[i] = r
        return answer

    threads = [threading.Thread(target=send) for _ in range(copies)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert set(raw_409) <= {"IDEMPOTENCY_IN_FLIGHT"}
    assert len(answers) == copies
    return answers


def wallet(server: WalletServer, purchased: int = 0) -> str:
    org = f"i{uuid.uuid4().hex[:10]}"
    server.client.create_wallet(org)
    if purchased:
        server.client.purchase(org, purchased)
    return org


Case = Callable[[WalletServer], tuple[str, Any, Callable[[], Any], Any]]


def create_case(s: WalletServer) -> tuple[str, Any, Callable[[], Any], Any]:
    org = f"c{uuid.uuid4().hex[:10]}"
    grants = lambda: len([t for t in s.client.ledger(org).transactions if t.type == "intro_grant"])  # noqa: E731
    return "/v1/wallets", {"org": org}, grants, 1


def purchase_case(s: WalletServer) -> tuple[str, Any, Callable[[], Any], Any]:
    org = wallet(s)
    purchased = lambda: s.client.get_wallet(org).balances.purchased  # noqa: E731
    return f"/v1/wallets/{wallet_id(org)}/purchases", {"tokens": 777}, purchased, 777


def hosting_case(s: WalletServer) -> tuple[str, Any, Callable[[], Any], Any]:
    wid = wallet(s)
    body = {"component": "docman", "hour": "2026-01-01T05:00:00Z", "tokens": 10, "tier": "small", "pods": 1}
    return f"/v1/wallets/{wallet_id(wid)}/hosting-charges", body, lambda: s.client.get_wallet(wid).total, 49_990


def hold_case(s: WalletServer) -> tuple[str, Any, Callable[[], Any], Any]:
    org = wallet(s, 100)
    held = lambda: s.client.get_wallet(org).held  # noqa: E731
    return "/v1/holds", {"wallet": wallet_id(org), "tokens": 40, "ttlSeconds": 60}, held, 40


def settle_case(s: WalletServer) -> tuple[str, Any, Callable[[], Any], Any]:
    wid, provider = wallet(s, 100), wallet(s)
    hold = s.client.hold(wid, 50)
    body = {"provider": wallet_id(provider), "tokens": 7, "service": "s", "route": "/r", "method": "GET",
            "requestId": "q"}
    return (f"/v1/holds/{hold.id}/settle", body,
            lambda: (s.client.get_wallet(wid).balances.purchased, s.client.get_wallet(provider).balances.earned),
            (93, 7))


def release_case(s: WalletServer) -> tuple[str, Any, Callable[[], Any], Any]:
    wid = wallet(s, 100)
    hold = s.client.hold(wid, 50)
    releases = lambda: [t.type for t in s.client.ledger(wid).transactions].count("release")  # noqa: E731
    return f"/v1/holds/{hold.id}/release", None, releases, 1


def settle_batch_case(s: WalletServer) -> tuple[str, Any, Callable[[], Any], Any]:
    wid, provider = wallet(s, 100), wallet(s)
    hold = s.client.hold(wid, 50)
    items = [{"key": f"{hold.id}-{i}", "hold": hold.id, "provider": wallet_id(provider), "tokens": 2, "service": "s",
              "route": "/r", "method": "GET", "requestId": f"q{i}"} for i in range(5)]
    return "/v1/settlements/batch", {"items": items}, lambda: s.client.get_wallet(provider).balances.earned, 10


CASES = [create_case, purchase_case, hosting_case, hold_case, settle_case, release_case, settle_batch_case]


@pytest.mark.parametrize("copies", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.__name__.removesuffix("_case"))
def test_concurrent_copies_have_one_effect_and_one_answer(server: WalletServer, case: Case, copies: int) -> None:
    path, body, effect, expected = case(server)
    answers = send_concurrently(server, path, body, copies)
    statuses = {status for status, _, _ in answers}
    assert len(statuses) == 1 and statuses <= {200, 201}, answers
    assert all(a[:2] == answers[0][:2] for a in answers), "every copy must get the first answer"
    if path.endswith("/batch"):  # a batch's items are replayed one by one; 409s are retried by the sender
        assert all(r["status"] == 200 for r in answers[0][1]["results"])
    else:
        assert sorted(replayed for _, _, replayed in answers) == [False] + [True] * (copies - 1)
    assert effect() == expected
    assert server.client.integrity().ok
