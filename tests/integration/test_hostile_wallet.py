# ruff: noqa: UP031  (raw JSON bodies: %-templates keep their braces readable)
"""Hostile input against a real wallet server: amounts at the integer edges, thousands of
idempotency keys replayed concurrently, a schemathesis stateful run along the
ledger's own links (wallet → purchase/charge/hold → settle/release), and the HTTP edge
over raw sockets: header and body deadlines, body size, strict JSON, what leaks."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import re
import socket
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fixtures.wallet import WalletServer, start_wallet_server

MAX_TOKENS = 2**53
# Every JSON spelling of a bad amount a client could send: not an integer in 1..2**53.
BAD_AMOUNTS = ["0", "-1", str(2**53 + 1), str(2**63), str(2**64), "9" * 400, "1e3", "1000.0", "1.5",
               '"1"', "true", "false", "null", "[]", "{}"]


def post(wallet: WalletServer, path: str, raw: str, key: str | None = None) -> httpx.Response:
    return httpx.post(f"{wallet.url}{path}", content=raw, timeout=10,
                      headers={**wallet.headers(key or uuid.uuid4().hex), "Content-Type": "application/json"})


def snapshot(wallet: WalletServer, org: str) -> tuple[Any, Any]:
    w = wallet.client.get_wallet(org)
    return (w.balances, w.held), wallet.client.integrity().counts["transactions"]


# --------------------------------------------------------------------------- integer edges


@pytest.mark.parametrize("amount", BAD_AMOUNTS)
def test_bad_amounts_are_refused_naming_the_field_and_change_nothing(module_wallet: WalletServer, amount: str) -> None:
    wallet = module_wallet
    org = f"edge-{uuid.uuid4().hex[:6]}"
    wallet.client.create_wallet(org)
    wallet.client.purchase(org, 1000)
    hold = wallet.client.hold(org, 10, 60)
    before = snapshot(wallet, org)
    calls = {
        f"/v1/wallets/wallet-{org}/purchases": ('{"tokens": %s}' % amount, "tokens"),
        f"/v1/wallets/wallet-{org}/hosting-charges":
            ('{"component": "ns/a", "hour": "2024-01-01T00:00:00Z", "tokens": %s}' % amount, "tokens"),
        f"/v1/wallets/wallet-{org}/check-reserve": ('{"tier": "nano", "replicas": %s}' % amount, "replicas"),
        "/v1/holds": ('{"wallet": "wallet-%s", "tokens": %s, "ttlSeconds": 60}' % (org, amount), "tokens"),
        "/v1/holds ": ('{"wallet": "wallet-%s", "tokens": 1, "ttlSeconds": %s}' % (org, amount), "ttlSeconds"),
        f"/v1/holds/{hold.id}/settle": ('{"provider": "wallet-%s", "tokens": %s, "service": "s", "route": "/r", '
                                        '"method": "GET", "requestId": "r1"}' % (org, amount), "tokens"),
    }
    for path, (raw, field) in calls.items():
        r = post(wallet, path.strip(), raw)
        assert r.status_code == 422, (path, amount, r.status_code, r.text)
        body = r.json()
        assert body["error"] == "INVALID_AMOUNT" and body["field"] == field, (path, body)
        assert field in body["message"], body
    for path, kind in (("/v1/holds/batch", "hold"), ("/v1/settlements/batch", "settle")):
        item = ('{"key": "k1", "wallet": "wallet-%s", "tokens": %s}' % (org, amount) if kind == "hold" else
                '{"key": "k2", "hold": "%s", "provider": "wallet-%s", "tokens": %s, "service": "s", "route": "/r", '
                '"method": "GET", "requestId": "r2"}' % (hold.id, org, amount))
        r = post(wallet, path, '{"items": [%s]}' % item)
        assert r.status_code == 200, r.text
        result = r.json()["results"][0]
        assert result["status"] == 422 and result["body"]["error"] == "INVALID_AMOUNT", result
    assert snapshot(wallet, org) == before  # nothing moved, no transaction written
    assert wallet.client.integrity().ok


def test_the_largest_amount_is_taken_and_every_figure_stays_an_exact_integer(wallet: WalletServer) -> None:
    org = f"edge-{uuid.uuid4().hex[:6]}"
    wallet.client.create_wallet(org)  # 50,000 intro tokens
    room = MAX_TOKENS - 50_000
    r = post(wallet, f"/v1/wallets/wallet-{org}/purchases", '{"tokens": %d}' % room)
    assert r.status_code == 201, r.text
    r = post(wallet, "/v1/holds", '{"wallet": "wallet-%s", "tokens": %d, "ttlSeconds": 60}' % (org, room))
    assert r.status_code == 201 and r.json()["tokens"] == room, r.text
    raw = httpx.get(f"{wallet.url}/v1/wallets/wallet-{org}", headers=wallet.headers(), timeout=10).json()
    assert raw["total"] == MAX_TOKENS and raw["held"] == room and raw["available"]["api"] == 0
    r = post(wallet, "/v1/holds", '{"wallet": "wallet-%s", "tokens": 1, "ttlSeconds": 60}' % org)
    assert r.status_code == 402 and r.json()["available"] == 0, r.text
    r = post(wallet, f"/v1/wallets/wallet-{org}/purchases", '{"tokens": 1}')  # one past the largest total
    assert r.status_code == 422 and r.json()["field"] == "tokens", r.text
    assert wallet.client.integrity().ok


def test_no_balance_ever_passes_the_largest_exact_json_integer(wallet: WalletServer) -> None:
    """Found here: balances used to add up past 2**53 (and past 2**63 SQLite stored them as REAL
    and the integrity check answered 503 for good)."""
    org = f"edge-{uuid.uuid4().hex[:6]}"
    wallet.client.create_wallet(org)
    answers = [post(wallet, f"/v1/wallets/wallet-{org}/purchases", '{"tokens": %d}' % MAX_TOKENS).status_code
               for _ in range(2)]
    assert all(s in (201, 422) for s in answers), answers
    raw = httpx.get(f"{wallet.url}/v1/wallets/wallet-{org}", headers=wallet.headers(), timeout=10).json()
    figures = [*raw["balances"].values(), raw["held"], raw["total"], *raw["available"].values()]
    assert all(type(v) is int and 0 <= v <= MAX_TOKENS for v in figures), raw
    assert wallet.client.integrity().ok


# --------------------------------------------------------------------------- concurrent replays


async def _replay_storm(wallet: WalletServer, org: str, keys: int, copies: int, concurrency: int
                        ) -> dict[str, list[tuple[int, dict[str, Any]]]]:
    """`keys` mutations (purchases, holds, hosting charges), each sent `copies` times at once."""
    requests: list[tuple[str, str, str]] = []
    for i in range(keys):
        key = f"storm/{org}/{i}"
        if i % 3 == 0:
            req = (key, f"/v1/wallets/wallet-{org}/purchases", json.dumps({"tokens": 1 + i % 7}))
        elif i % 3 == 1:
            req = (key, "/v1/holds", json.dumps({"wallet": f"wallet-{org}", "tokens": 1, "ttlSeconds": 600}))
        else:
            req = (key, f"/v1/wallets/wallet-{org}/hosting-charges",
                   json.dumps({"component": f"ns/c{i}", "hour": "2024-01-01T00:00:00Z", "tokens": 1}))
        requests += [req] * copies
    random.Random(7).shuffle(requests)
    answers: dict[str, list[tuple[int, dict[str, Any]]]] = defaultdict(list)
    gate = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=wallet.url, timeout=60, limits=limits) as client:
        async def send(key: str, path: str, body: str) -> None:
            async with gate:
                for attempt in range(3):
                    try:
                        r = await client.post(path, content=body, headers={
                            **wallet.headers(key), "Content-Type": "application/json"})
                        break
                    except httpx.TransportError:  # a keep-alive connection closed under us: resend, same key
                        if attempt == 2:
                            raise
                answers[key].append((r.status_code, r.json()))

        await asyncio.gather(*(send(*req) for req in requests))
    return answers


def test_hundreds_of_keys_on_every_mutation_replayed_concurrently_take_effect_exactly_once(
        wallet_each_db: WalletServer) -> None:
    wallet, org, keys = wallet_each_db, f"storm-{uuid.uuid4().hex[:6]}", 300
    wallet.client.create_wallet(org)
    wallet.client.purchase(org, 10_000)  # holds need purchased tokens (refusals are not stored: retried later)
    answers = asyncio.run(_replay_storm(wallet, org, keys, copies=3, concurrency=48))

    expected_purchased = 10_000 + sum(1 + i % 7 for i in range(0, keys, 3))
    firsts: dict[str, dict[str, Any]] = {}
    for key, got in answers.items():
        statuses = {s for s, _ in got}
        assert statuses <= {200, 201, 409}, (key, got)
        assert all(b["error"] == "IDEMPOTENCY_IN_FLIGHT" for s, b in got if s == 409), (key, got)
        bodies = [json.dumps(b, sort_keys=True) for s, b in got if s in (200, 201)]
        assert len(set(bodies)) <= 1, f"{key} answered differently: {bodies}"  # a replay is the first answer
        if bodies:
            firsts[key] = json.loads(bodies[0])
    # Replayed once more, one at a time: each key now answers its first answer (never runs again).
    for i in range(0, keys, 37):
        key = f"storm/{org}/{i}"
        body = json.dumps({"tokens": 1 + i % 7}) if i % 3 == 0 else None
        if body:
            r = post(wallet, f"/v1/wallets/wallet-{org}/purchases", body, key)
            assert r.status_code == 201
            assert key not in firsts or r.json() == firsts[key]
            # The same key with another body is refused, not applied.
            clash = post(wallet, f"/v1/wallets/wallet-{org}/purchases", '{"tokens": 1000}', key)
            assert clash.status_code == 422 and clash.json()["error"] == "IDEMPOTENCY_KEY_REUSED"

    w = wallet.client.get_wallet(org)
    assert w.balances.purchased == expected_purchased  # each purchase once
    assert w.held == len(range(1, keys, 3))  # each hold once (1 token each)
    assert w.balances.intro == 50_000 - len(range(2, keys, 3))  # each hosting charge once
    hold_ids = {firsts[f"storm/{org}/{i}"]["id"] for i in range(1, keys, 3) if f"storm/{org}/{i}" in firsts}
    assert len(hold_ids) == len([i for i in range(1, keys, 3) if f"storm/{org}/{i}" in firsts])
    integrity = wallet.client.integrity()
    assert integrity.ok, integrity.problems


async def _send_batches_at_once(wallet: WalletServer, path: str, batches: list[list[dict[str, Any]]],
                                copies: int) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=wallet.url, timeout=120) as client:
        async def send(items: list[dict[str, Any]]) -> dict[str, Any]:
            r = await client.post(path, json={"items": items}, headers=wallet.headers(uuid.uuid4().hex))
            assert r.status_code == 200, r.text
            return dict(r.json())

        return await asyncio.gather(*(send(b) for b in batches * copies))


def test_two_thousand_batch_keys_sent_three_times_at_once_hold_and_settle_once_each(
        wallet_each_db: WalletServer) -> None:
    wallet, org, provider, n = wallet_each_db, f"bstorm-{uuid.uuid4().hex[:6]}", f"bprov-{uuid.uuid4().hex[:6]}", 2000
    for o in (org, provider):
        wallet.client.create_wallet(o)
    wallet.client.purchase(org, 10_000)
    holds = [{"key": f"bhold/{org}/{i}", "wallet": f"wallet-{org}", "tokens": 2, "ttlSeconds": 600} for i in range(n)]
    answers = asyncio.run(_send_batches_at_once(wallet, "/v1/holds/batch", [holds[:1000], holds[1000:]], copies=3))
    by_key: dict[str, set[str]] = defaultdict(set)
    for answer in answers:
        for r in answer["results"]:
            assert r["status"] in (201, 409), r  # created, or another copy was running
            if r["status"] == 201:
                by_key[r["key"]].add(r["body"]["id"])
    assert all(len(ids) == 1 for ids in by_key.values())  # every copy of a key got the same hold
    # Keys whose every copy answered 409 are sent once more, as a client retries an in-flight answer.
    missing = [h for h in holds if h["key"] not in by_key]
    if missing:
        again = asyncio.run(_send_batches_at_once(wallet, "/v1/holds/batch", [missing], copies=1))
        assert all(r["status"] == 201 for r in again[0]["results"]), again
        by_key.update({r["key"]: {r["body"]["id"]} for r in again[0]["results"]})
    assert wallet.client.get_wallet(org).held == 2 * n  # 2,000 holds, not 6,000
    hold_of = {k: next(iter(ids)) for k, ids in by_key.items()}
    settles = [{"key": f"bsettle/{org}/{i}", "hold": hold_of[h["key"]], "provider": f"wallet-{provider}", "tokens": 1,
                "service": "svc", "route": "/r", "method": "GET", "requestId": f"req-{i}"} for i, h in enumerate(holds)]
    answers = asyncio.run(_send_batches_at_once(wallet, "/v1/settlements/batch", [settles[:1000], settles[1000:]],
                                                copies=3))
    assert all(r["status"] in (200, 409) for a in answers for r in a["results"])
    settled = {r["key"] for a in answers for r in a["results"] if r["status"] == 200}
    missing_settles = [x for x in settles if x["key"] not in settled]
    if missing_settles:
        asyncio.run(_send_batches_at_once(wallet, "/v1/settlements/batch", [missing_settles], copies=1))
    assert wallet.client.get_wallet(provider).balances.earned == n  # each settlement once
    assert wallet.client.get_wallet(org).balances.purchased == 10_000 - n
    integrity = wallet.client.integrity()
    assert integrity.ok, integrity.problems


def test_of_concurrent_copies_of_a_key_one_is_applied(wallet: WalletServer) -> None:
    """Found here: a group commit took the union of its requests' busy keys, so when the copy that
    claimed a key shared a group with copies that found it busy, all answered 409 and none applied it."""
    org = f"flight-{uuid.uuid4().hex[:6]}"
    wallet.client.create_wallet(org)
    wallet.client.purchase(org, 100_000)
    never_applied: list[str] = []
    for round_ in range(4):
        # A large batch keeps the writer busy, so the three copies behind it queue up together.
        blocker = [{"key": f"blk/{org}/{round_}/{i}", "wallet": f"wallet-{org}", "tokens": 1, "ttlSeconds": 600}
                   for i in range(1000)]
        batch = [{"key": f"cp/{org}/{round_}/{i}", "wallet": f"wallet-{org}", "tokens": 1, "ttlSeconds": 600}
                 for i in range(200)]
        answers = asyncio.run(_send_batches_at_once(wallet, "/v1/holds/batch", [blocker, batch, batch, batch],
                                                    copies=1))
        applied = {r["key"] for a in answers[1:] for r in a["results"] if r["status"] == 201}
        never_applied += [b["key"] for b in batch if b["key"] not in applied]
    assert not never_applied, f"{len(never_applied)} keys answered 409 by every copy, applied by none"


# --------------------------------------------------------------------------- schemathesis, stateful


def _with_links(raw: dict[str, Any]) -> dict[str, Any]:
    """The wallet's OpenAPI with the links a client follows: create a wallet, then use its id;
    buy tokens, then hold some; take a hold, then settle or release it."""
    paths = raw["paths"]
    wallet_id = {"wallet_id": "$response.body#/id"}
    uses_wallet = {
        "GetWallet": ("/v1/wallets/{wallet_id}", "get"), "Purchase": ("/v1/wallets/{wallet_id}/purchases", "post"),
        "CheckReserve": ("/v1/wallets/{wallet_id}/check-reserve", "post"),
        "HostingCharge": ("/v1/wallets/{wallet_id}/hosting-charges", "post"),
        "Ledger": ("/v1/wallets/{wallet_id}/ledger", "get"),
        "PutGrants": ("/v1/wallets/{wallet_id}/bill-grants", "put"),
    }
    for status in ("200", "201"):
        paths["/v1/wallets"]["post"]["responses"][status]["links"] = {
            name: {"operationId": paths[p][m]["operationId"], "parameters": wallet_id}
            for name, (p, m) in uses_wallet.items()}
    # A purchase funds its wallet for API gas: hold some of it.
    paths["/v1/wallets/{wallet_id}/purchases"]["post"]["responses"]["201"]["links"] = {
        "Hold": {"operationId": paths["/v1/holds"]["post"]["operationId"],
                 "requestBody": {"wallet": "$response.body#/wallet/id", "tokens": 1, "ttlSeconds": 60}}}
    hold_id = {"hold_id": "$response.body#/id"}
    paths["/v1/holds"]["post"]["responses"]["201"]["links"] = {
        "Settle": {"operationId": paths["/v1/holds/{hold_id}/settle"]["post"]["operationId"], "parameters": hold_id},
        "Release": {"operationId": paths["/v1/holds/{hold_id}/release"]["post"]["operationId"],
                    "parameters": hold_id},
    }
    return raw


def test_schemathesis_stateful_run_finds_no_5xx_and_keeps_the_ledger_whole(wallet: WalletServer,
                                                                          tmp_path: Path) -> None:
    wallet.client.create_wallet("acme")
    wallet.client.purchase("acme", 1_000_000)
    before = wallet.client.integrity().counts["transactions"]
    schema = tmp_path / "openapi-linked.json"
    schema.write_text(json.dumps(_with_links(httpx.get(f"{wallet.url}/openapi.json", timeout=10).json())))
    cmd = [str(Path(sys.executable).with_name("schemathesis")), "run", str(schema), "--url", wallet.url,
           "-H", f"Authorization: Bearer {wallet.token}", "--phases", "stateful",
           "--checks", "not_a_server_error", "--max-examples", "100", "--workers", "1",
           "--generation-database", "none", "--request-timeout", "10"]
    # cwd: schemathesis keeps a cache folder in its working directory; keep it out of the tree.
    run = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=240, cwd=tmp_path)
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    print(run.stdout[-4000:])
    links = re.search(r"API Links:\s+(\d+) covered", run.stdout)
    assert links and int(links.group(1)) >= 2, run.stdout[-3000:]  # it chained calls along the links
    integrity = wallet.client.integrity()
    assert integrity.ok, integrity.problems
    assert integrity.counts["transactions"] > before  # the sequences reached the ledger


# --------------------------------------------------------------------------- the HTTP edge (issue 12)

DEADLINE = 1.0  # seconds: the header and body deadlines of the `edge` server
GRACE = 3.0  # how much longer than a deadline a test waits before calling the socket open for good
# (less than the 5 s after which an idle kept-alive connection is closed anyway)


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WalletServer]:
    """A wallet with one-second header and body deadlines, shared by the tests of this section."""
    server = start_wallet_server(tmp_path_factory.mktemp("edge"), env={
        "TAWA_WALLET_HEADER_TIMEOUT": str(DEADLINE), "TAWA_WALLET_BODY_TIMEOUT": str(DEADLINE)})
    yield server
    server.close()


def _until_closed(sock: socket.socket, limit: float, trickle: bytes = b"") -> tuple[float, bytes]:
    """Read until the server closes (sending `trickle` every 0.2 s meanwhile): seconds taken, bytes read.
    A socket still open after `limit` seconds is returned as it is, so the test fails instead of hanging."""
    start, got = time.monotonic(), b""
    sock.settimeout(0.2)
    while time.monotonic() - start < limit:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            if trickle:
                with contextlib.suppress(OSError):
                    sock.sendall(trickle)
            continue
        except ConnectionResetError:
            break
        if not chunk:
            return time.monotonic() - start, got
        got += chunk
    return time.monotonic() - start, got


def _json_answer(raw: bytes) -> tuple[int, dict[str, str], Any]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, json.loads(body)


@pytest.mark.parametrize("sent, trickle", [
    (b"POST /v1/wallets HTTP/1.1\r\nHost: wallet\r\n", b""),  # a request line and one header, then nothing
    (b"", b""),  # connects and sends nothing
    (b"GET /healthz HTTP/1.1\r\n", b"X"),  # one byte every 0.2 s: never a whole header
], ids=["one-header-then-nothing", "nothing", "trickle"])
def test_a_request_head_that_does_not_arrive_is_closed_at_the_header_deadline(edge: WalletServer, sent: bytes,
                                                                            trickle: bytes) -> None:
    """Found by issue 12: such sockets stayed open for minutes, each holding a connection."""
    with socket.create_connection(("127.0.0.1", edge.port)) as sock:
        sock.sendall(sent)
        took, raw = _until_closed(sock, DEADLINE + GRACE, trickle)
    assert took < DEADLINE + GRACE, f"still open after {took:.1f}s"
    assert took >= DEADLINE * 0.9, took
    status, headers, body = _json_answer(raw)
    assert status == 408 and body["error"] == "HEADERS_TIMEOUT" and headers["connection"] == "close"


def test_a_body_that_stops_is_answered_408_at_the_body_deadline_and_nothing_is_created(edge: WalletServer) -> None:
    org = f"slow-{uuid.uuid4().hex[:6]}"
    head = (f"POST /v1/wallets HTTP/1.1\r\nHost: wallet\r\nAuthorization: Bearer {edge.token}\r\n"
            "Content-Type: application/json\r\nIdempotency-Key: slow-1\r\nContent-Length: 100\r\n\r\n")
    with socket.create_connection(("127.0.0.1", edge.port)) as sock:
        sock.sendall(head.encode() + b'{"org": "%s"' % org.encode())  # 100 bytes announced, far fewer sent
        took, raw = _until_closed(sock, DEADLINE + GRACE)
    assert DEADLINE * 0.9 <= took < DEADLINE + GRACE, took
    status, headers, body = _json_answer(raw)
    assert status == 408 and body["error"] == "BODY_TIMEOUT" and headers["connection"] == "close"
    assert httpx.get(f"{edge.url}/v1/wallets/wallet-{org}", headers=edge.headers()).status_code == 404


def test_a_head_past_64_kib_is_refused_431_before_it_ends(edge: WalletServer) -> None:
    with socket.create_connection(("127.0.0.1", edge.port)) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: wallet\r\nX-Padding: " + b"a" * 400_000)  # no end of headers
        took, raw = _until_closed(sock, GRACE)
    assert took < GRACE, took  # refused for its size, not at the deadline
    status, _, body = _json_answer(raw)
    assert status == 431 and body["error"] == "HEADERS_TOO_LARGE"


def test_a_request_the_http_parser_refuses_is_answered_in_json(edge: WalletServer) -> None:
    with socket.create_connection(("127.0.0.1", edge.port)) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: wallet\r\nContent-Length: <script>\r\n\r\n")
        _, raw = _until_closed(sock, GRACE)
    status, headers, body = _json_answer(raw)
    assert status == 400 and headers["content-type"] == "application/json" and body["error"] == "BAD_REQUEST"
    assert b"<script>" not in raw


def test_a_50_mb_body_is_refused_413_from_its_length_before_it_is_read(edge: WalletServer) -> None:
    """Found by issue 12: a 50 MB JSON body was read and accepted. Only the head is sent here:
    the answer comes without waiting for the body, and the connection is closed."""
    org = f"big-{uuid.uuid4().hex[:6]}"
    edge.client.create_wallet(org)
    head = (f"POST /v1/wallets/wallet-{org}/purchases HTTP/1.1\r\nHost: wallet\r\nAuthorization: Bearer "
            f"{edge.token}\r\nContent-Type: application/json\r\nIdempotency-Key: big-1\r\n"
            f"Content-Length: {50 * 1024 * 1024}\r\n\r\n")
    with socket.create_connection(("127.0.0.1", edge.port)) as sock:
        sock.sendall(head.encode() + b'{"tokens": 1, "padding": "')
        took, raw = _until_closed(sock, DEADLINE + GRACE)
    status, headers, body = _json_answer(raw)
    assert status == 413 and body["error"] == "BODY_TOO_LARGE" and body["limit"] == 1024 * 1024, body
    assert headers["connection"] == "close" and took < GRACE  # and closed: the rest is never read
    assert edge.client.get_wallet(org).balances.purchased == 0


def test_a_chunked_body_is_cut_off_at_the_limit_and_an_unauthenticated_body_is_never_read(
        edge: WalletServer) -> None:
    org = f"chunk-{uuid.uuid4().hex[:6]}"
    edge.client.create_wallet(org)

    limit = 1024 * 1024
    head = (f"POST /v1/wallets/wallet-{org}/purchases HTTP/1.1\r\nHost: wallet\r\nAuthorization: Bearer "
            f"{edge.token}\r\nContent-Type: application/json\r\nIdempotency-Key: chunk-1\r\n"
            "Transfer-Encoding: chunked\r\n\r\n")
    with socket.create_connection(("127.0.0.1", edge.port)) as sock:
        sock.sendall(head.encode())
        # One byte past the limit in 64 KiB chunks, and no last chunk: the server must stop there.
        for size in [65536] * (limit // 65536) + [1]:
            sock.sendall(b"%x\r\n%s\r\n" % (size, b" " * size))
        took, raw = _until_closed(sock, DEADLINE + GRACE)
    status, headers, body = _json_answer(raw)
    assert status == 413 and body["error"] == "BODY_TOO_LARGE" and headers["connection"] == "close"
    assert took < GRACE
    assert edge.client.get_wallet(org).balances.purchased == 0
    # Without a token, the body is not read at all, and the connection is closed after the 401
    # (else the client could stream gigabytes for the server to parse and throw away).
    head = f"POST /v1/wallets/wallet-{org}/purchases HTTP/1.1\r\nHost: wallet\r\nContent-Length: 5000000\r\n\r\n"
    with socket.create_connection(("127.0.0.1", edge.port)) as sock:
        sock.sendall(head.encode() + b"{")
        took, raw = _until_closed(sock, DEADLINE + GRACE)
    status, headers, _ = _json_answer(raw)
    # Closed at once, not after the 5 s keep-alive that follows an answer.
    assert status == 401 and headers["connection"] == "close" and took < GRACE


def test_a_key_sent_twice_is_refused_naming_the_key_and_nothing_is_bought(module_wallet: WalletServer) -> None:
    """Found by issue 12: {"tokens":1,"tokens":9999999} bought 9,999,999 (the last one won)."""
    wallet, org = module_wallet, f"dup-{uuid.uuid4().hex[:6]}"
    wallet.client.create_wallet(org)
    r = post(wallet, f"/v1/wallets/wallet-{org}/purchases", '{"tokens": 1, "tokens": 9999999}')
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "DUPLICATE_KEY" and r.json()["field"] == "tokens" and "tokens" in r.json()["message"]
    # A key that is not a field name is not repeated back.
    r = post(wallet, f"/v1/wallets/wallet-{org}/purchases", '{"tokens": 1, "<b>x</b>": 1, "<b>x</b>": 2}')
    assert r.status_code == 400 and "<b>" not in r.text and r.json()["error"] == "DUPLICATE_KEY"
    # In a batch item too: the whole batch is refused before any item is applied.
    item = '{"key": "d1", "wallet": "wallet-%s", "tokens": 1, "tokens": 2}' % org
    r = post(wallet, "/v1/holds/batch", '{"items": [%s]}' % item)
    assert r.status_code == 400 and r.json()["field"] == "tokens", r.text
    w = wallet.client.get_wallet(org)
    assert w.balances.purchased == 0 and w.held == 0


UNKNOWN_FIELDS = [
    ("/v1/wallets/wallet-{org}/purchases", '{"tokens": 5, "currency": "EUR"}', "currency"),
    ("/v1/holds", '{"wallet": "wallet-{org}", "tokens": 5, "ttl": 60}', "ttl"),  # a typo of ttlSeconds
    ("/v1/wallets/wallet-{org}/hosting-charges",
     '{"component": "ns/a", "hour": "2026-01-01T00:00:00Z", "tokens": 1, "discount": 1}', "discount"),
    ("/v1/wallets", '{"org": "{org}x", "plan": "gold"}', "plan"),
]


@pytest.mark.parametrize("path, raw, field", UNKNOWN_FIELDS, ids=[f for _, _, f in UNKNOWN_FIELDS])
def test_an_unknown_field_is_refused_422_naming_it_and_nothing_changes(module_wallet: WalletServer, path: str,
                                                                      raw: str, field: str) -> None:
    """Found by issue 12: unknown fields were ignored, so a typo silently became a default."""
    wallet, org = module_wallet, f"unk-{uuid.uuid4().hex[:6]}"
    wallet.client.create_wallet(org)
    wallet.client.purchase(org, 100)
    before = snapshot(wallet, org)
    r = post(wallet, path.replace("{org}", org), raw.replace("{org}", org))
    assert r.status_code == 422, r.text
    assert r.json()["error"] == "UNKNOWN_FIELD" and r.json()["field"] == field and field in r.json()["message"]
    assert snapshot(wallet, org) == before


def test_an_unknown_field_that_is_not_a_field_name_is_not_repeated_back(module_wallet: WalletServer) -> None:
    wallet, org = module_wallet, f"unkx-{uuid.uuid4().hex[:6]}"
    wallet.client.create_wallet(org)
    for raw in ('{"tokens": 5, "<img src=x onerror=alert(1)>": 1}', '{"tokens": 5, "%s": 1}' % ("k" * 5000)):
        r = post(wallet, f"/v1/wallets/wallet-{org}/purchases", raw)
        assert r.status_code == 422 and r.json()["error"] == "UNKNOWN_FIELD" and r.json()["field"] == "?", r.text
        assert "<img" not in r.text and "kkkk" not in r.text
    assert wallet.client.get_wallet(org).balances.purchased == 0


def test_unknown_fields_in_a_batch_are_refused_per_item_and_at_the_top(module_wallet: WalletServer) -> None:
    wallet, org = module_wallet, f"unkb-{uuid.uuid4().hex[:6]}"
    wallet.client.create_wallet(org)
    wallet.client.purchase(org, 100)
    good = '{"key": "%s-1", "wallet": "wallet-%s", "tokens": 1}' % (org, org)
    bad = '{"key": "%s-2", "wallet": "wallet-%s", "tokens": 1, "priority": "high"}' % (org, org)
    r = post(wallet, "/v1/holds/batch", '{"items": [%s, %s]}' % (good, bad))
    assert [(x["status"], x["body"].get("field")) for x in r.json()["results"]] == [(201, None), (422, "priority")]
    r = post(wallet, "/v1/holds/batch", '{"items": [%s], "atomic": true}' % good)
    assert r.status_code == 422 and r.json()["field"] == "atomic", r.text


NOT_JSON = {
    "nested-arrays": "[" * 100_000 + "]" * 100_000,
    "nested-objects": '{"a": ' * 5_000 + "1" + "}" * 5_000,
    "nested-in-a-field": '{"tokens": ' + "[" * 40 + "1" + "]" * 40 + "}",
    "nan": '{"tokens": NaN}',
    "infinity": '{"tokens": Infinity}',
    "digits": '{"tokens": ' + "9" * 5_000 + "}",
    "truncated": '{"tokens": 1',
    "latin-1": '{"tokens": 1, "x": "\xe9"}',
}


@pytest.mark.parametrize("raw", NOT_JSON.values(), ids=NOT_JSON.keys())
def test_bodies_that_are_not_plain_json_are_400_json_never_500_and_never_echoed(module_wallet: WalletServer,
                                                                              raw: str) -> None:
    """Found by issue 12: deeply nested JSON → 500 text/plain."""
    wallet, org = module_wallet, f"nj-{uuid.uuid4().hex[:6]}"
    wallet.client.create_wallet(org)
    for path in (f"/v1/wallets/wallet-{org}/purchases", "/v1/holds/batch", f"/v1/wallets/wallet-{org}/bill-grants"):
        send = httpx.put if path.endswith("bill-grants") else httpx.post
        r = send(f"{wallet.url}{path}", content=raw.encode("latin-1"), timeout=10,
                 headers={**wallet.headers(uuid.uuid4().hex), "Content-Type": "application/json"})
        assert r.status_code == 400, (path, r.status_code, r.text[:300])
        assert r.headers["content-type"] == "application/json" and r.json()["error"] == "INVALID_JSON"
        assert len(r.content) < 300 and "999" not in r.text and "[[" not in r.text
    assert wallet.client.get_wallet(org).balances.purchased == 0


def test_a_bad_time_in_a_query_is_refused_without_repeating_it(module_wallet: WalletServer) -> None:
    wallet, org = module_wallet, f"qt-{uuid.uuid4().hex[:6]}"
    wallet.client.create_wallet(org)
    for path in (f"/v1/wallets/wallet-{org}/ledger", "/v1/gas/events", "/v1/gas/stats"):
        r = httpx.get(f"{wallet.url}{path}", params={"from": "<script>alert(1)</script>"}, headers=wallet.headers())
        assert r.status_code == 422 and r.json()["field"] == "from" and "script" not in r.text, r.text


def test_metrics_need_the_token_api_docs_are_off_and_no_header_names_the_stack(
        wallet_factory: Callable[..., WalletServer]) -> None:
    """Found by issue 12: /metrics (revenue) and /docs, /redoc were public; `server: uvicorn` on every answer."""
    wallet = wallet_factory(open_reads=True)  # open reads open wallets, never the metrics
    assert httpx.get(f"{wallet.url}/metrics").status_code == 401
    assert httpx.get(f"{wallet.url}/metrics", headers={"Authorization": "Bearer nope"}).status_code == 401
    metrics = httpx.get(f"{wallet.url}/metrics", headers=wallet.headers())
    assert metrics.status_code == 200 and "wallet_gas_tokens_total" in metrics.text
    for path in ("/docs", "/redoc", "/docs/oauth2-redirect"):
        assert httpx.get(f"{wallet.url}{path}").status_code == 404, path
    spec = httpx.get(f"{wallet.url}/openapi.json")  # docs/design.md: OpenAPI is served
    assert spec.status_code == 200 and "/v1/holds" in spec.json()["paths"]
    for r in (spec, metrics, httpx.get(f"{wallet.url}/healthz"), httpx.get(f"{wallet.url}/nowhere")):
        assert "server" not in r.headers, r.headers
    docs = wallet_factory(env={"TAWA_WALLET_DOCS": "true"})
    assert httpx.get(f"{docs.url}/docs").status_code == 200 and httpx.get(f"{docs.url}/redoc").status_code == 200
