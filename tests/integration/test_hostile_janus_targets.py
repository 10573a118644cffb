"""Janus's request target and what Janus leaks, attacked over raw sockets (issue 12).

The recording upstream writes down the raw path it received; `served_route`
is what an upstream that routes leniently makes of it — dot segments resolved
(`%2e` too, and `\\` as `/`, as WHATWG URL parsing does), `;params` stripped
(as Tomcat does), letter case ignored (as Express does by default). Every
call must be refused before it reaches the upstream, or charged what the
route the upstream serves costs.
"""

from __future__ import annotations

import re
import socket
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import pytest

from tawa.gas.pricing import PricedRoute, match_route
from tests.fixtures.janus import (
    DOCMAN_ROUTES,
    TEST_ENV,
    JanusProcess,
    RecordingUpstream,
    Seen,
    all_gas_events,
    default_services,
    service_token,
    start_janus,
    unique_org,
    wait_until,
)
from tests.fixtures.raw_http import body_of, exchange, header_of, read_all, status_of
from tests.fixtures.wallet import WalletServer

HEADER_TIMEOUT = BODY_TIMEOUT = 1.0
ROUTES = tuple(PricedRoute(r["path"].lower(), tuple(r["methods"]), r["auth"], r["gas"]) for r in DOCMAN_ROUTES)
OVERRIDES = ("X-HTTP-Method-Override", "X-HTTP-Method", "X-Method-Override")


@dataclass
class Rig:
    wallet: WalletServer
    upstream: RecordingUpstream
    janus: JanusProcess
    org: str


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory, module_wallet: WalletServer,
        module_upstream: RecordingUpstream) -> Iterator[Rig]:
    """The module's wallet and upstream, and a Janus of its own with one-second deadlines."""
    env = {**TEST_ENV, "TAWA_JANUS_HEADER_TIMEOUT": str(HEADER_TIMEOUT), "TAWA_JANUS_BODY_TIMEOUT": str(BODY_TIMEOUT)}
    janus = start_janus(tmp_path_factory.mktemp("janus"), module_wallet.url, module_wallet.token,
                        default_services(module_upstream.url), env)
    org = unique_org("targets")
    for name in ("insureco", org):
        module_wallet.client.create_wallet(name)
    module_wallet.client.purchase(org, 100_000)
    yield Rig(module_wallet, module_upstream, janus, org)
    janus.kill()


# --------------------------------------------------------------------------- raw HTTP


def request(target: str, *headers: str, method: str = "GET", token: str | None = None) -> bytes:
    lines = [f"{method} {target} HTTP/1.1", "Host: janus", *headers, "Connection: close"]
    if token:
        lines.append(f"Authorization: Bearer {token}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


# --------------------------------------------------------------------------- what the upstream serves


def served_route(raw_path: str, method: str) -> PricedRoute | None:
    """The docman route a lenient upstream serves for the raw path it received."""
    path = re.sub(r"%2e", ".", raw_path.replace("\\", "/"), flags=re.IGNORECASE)
    path = re.sub(r";[^/]*", "", path)
    path = urlsplit(urljoin("http://upstream/", path)).path  # RFC 3986 §5.2.4
    return match_route(ROUTES, path.lower(), method)


def charged(rig: Rig, answer: bytes) -> int:
    """Tokens the wallet recorded for this answer's request id (0 when nothing came)."""
    request_id = header_of(answer, "X-Request-ID")
    found = wait_until(lambda: [e for e in all_gas_events(rig.wallet.client, org=rig.org)
                                if e.request_id == request_id], timeout=10, what=f"the charge of {request_id}")
    return sum(e.tokens for e in found)


def reached(rig: Rig, marker: str) -> list[Seen]:
    return [s for s in list(rig.upstream.seen) if marker in s.query]


# --------------------------------------------------------------------------- finding 1 and 7


@pytest.mark.parametrize("path", [
    "/d/../documents", "/d/./../documents", "/templates/pdf/../../documents", "/d/%2e%2e/documents",
    "/d/%2E%2e/documents", "/d/.%2e/documents", "/templates/pdf/..%2f..%2fdocuments", "/d\\..\\documents",
    "/Documents", "/DOCUMENTS/7", "/documents;x=1", "/documents;/x", "/d;/../documents", "/templates%2fpdf",
    "/d/..", "/../docman/documents", "/d/%00/../documents",
])
@pytest.mark.parametrize("caller", ["anonymous", "token"])
def test_janus_charges_the_route_the_upstream_serves(rig: Rig, path: str, caller: str) -> None:
    marker = uuid.uuid4().hex
    token = service_token(rig.org, "quoter") if caller == "token" else None
    answer = exchange(rig.janus.port, request(f"/proxy/docman{path}?m={marker}", token=token))
    status, seen = status_of(answer), reached(rig, marker)
    if not seen:
        assert status in (400, 401), (path, answer[:300])
        return
    assert len(seen) == 1 and status == 200, (path, answer[:300])
    route = served_route(seen[0].path, "GET")
    expected = route.gas if route else 1
    if token is None:  # nobody pays: only a free public route may be served
        assert route is not None and route.auth == "public" and route.gas == 0, (path, seen[0].path)
    else:
        assert charged(rig, answer) == expected, (path, seen[0].path)


def test_the_dot_segment_attack_of_the_issue(rig: Rig) -> None:
    marker = uuid.uuid4().hex
    anonymous = exchange(rig.janus.port, request(f"/proxy/docman/d/../documents?m={marker}"))
    assert status_of(anonymous) == 401 and b"TOKEN_REQUIRED" in anonymous  # /documents needs a service identity
    encoded = exchange(rig.janus.port, request(f"/proxy/docman/d/%2e%2e/documents?m={marker}"))
    assert status_of(encoded) == 400 and b"NON_CANONICAL_PATH" in encoded
    assert reached(rig, marker) == []
    paid = exchange(rig.janus.port, request(f"/proxy/docman/templates/pdf/../../documents?m={marker}&x=%2F",
                                            token=service_token(rig.org, "quoter")))
    assert status_of(paid) == 200
    assert [(s.path, s.query) for s in reached(rig, marker)] == [("/documents", f"m={marker}&x=%2F")]
    assert charged(rig, paid) == 5


def test_case_and_parameters_are_refused_with_the_fix(rig: Rig) -> None:
    marker = uuid.uuid4().hex
    token = service_token(rig.org, "quoter")
    for path in ("/Documents", "/documents;x=1"):
        answer = exchange(rig.janus.port, request(f"/proxy/docman{path}?m={marker}", token=token))
        assert status_of(answer) == 400, answer[:300]
        assert b'"error": "NON_CANONICAL_PATH"' in answer
    assert b"/documents" in body_of(exchange(rig.janus.port, request("/proxy/docman/Documents", token=token)))
    assert reached(rig, marker) == []


# --------------------------------------------------------------------------- findings 6 and 8


@pytest.mark.parametrize("override", OVERRIDES)
def test_method_overrides_never_reach_the_upstream(rig: Rig, override: str) -> None:
    marker = uuid.uuid4().hex
    answer = exchange(rig.janus.port, request(f"/proxy/docman/operations?m={marker}", f"{override}: POST",
                                              token=service_token(rig.org, "quoter")))
    assert status_of(answer) == 200
    [seen] = reached(rig, marker)
    assert seen.method == "GET" and not any(seen.all(name) for name in OVERRIDES), seen.headers
    assert charged(rig, answer) == 1  # GET /operations: the default price, and GET is what ran


def test_underscore_headers_never_reach_the_upstream(rig: Rig) -> None:
    marker = uuid.uuid4().hex
    answer = exchange(rig.janus.port, request(f"/proxy/docman/documents?m={marker}", "X_Caller_Org: victim",
                                              "X-Caller_Org: victim", "x_bill_org: victim",
                                              token=service_token(rig.org, "quoter")))
    assert status_of(answer) == 200
    [seen] = reached(rig, marker)
    assert [n for n, _ in seen.headers if "_" in n] == []
    # What a WSGI server would make of it: HTTP_X_CALLER_ORG is Janus's value alone.
    wsgi = [v for n, v in seen.headers if n.upper().replace("-", "_") == "X_CALLER_ORG"]
    assert wsgi == [rig.org]


# --------------------------------------------------------------------------- finding 9


def test_a_request_head_that_stalls_gets_408_and_a_closed_socket(rig: Rig) -> None:
    with socket.create_connection(("127.0.0.1", rig.janus.port), timeout=HEADER_TIMEOUT + 5) as sock:
        started = time.monotonic()
        sock.sendall(b"GET /proxy/docman/d/x HTTP/1.1\r\nHost: janus\r\n")
        answer = read_all(sock)
        waited = time.monotonic() - started
    assert status_of(answer) == 408 and b'"error": "HEADER_TIMEOUT"' in answer, answer[:300]
    assert HEADER_TIMEOUT - 0.2 <= waited < HEADER_TIMEOUT + 3


def test_a_connection_that_sends_nothing_is_closed(rig: Rig) -> None:
    with socket.create_connection(("127.0.0.1", rig.janus.port), timeout=HEADER_TIMEOUT + 5) as sock:
        started = time.monotonic()
        answer = read_all(sock)
        assert answer == b"" and time.monotonic() - started < HEADER_TIMEOUT + 3


def test_a_stalled_head_on_a_kept_alive_connection_gets_408(rig: Rig) -> None:
    with socket.create_connection(("127.0.0.1", rig.janus.port), timeout=HEADER_TIMEOUT + 5) as sock:
        sock.sendall(b"GET /proxy/docman/d/x HTTP/1.1\r\nHost: janus\r\n\r\n")
        first = sock.recv(65536)
        assert status_of(first) == 200
        time.sleep(HEADER_TIMEOUT + 0.5)  # idle between requests is not a stalled head
        sock.sendall(b"GET /proxy/docman/d/y HTTP/1.1\r\nHost: janus\r\n")
        answer = read_all(sock)
    assert status_of(answer) == 408, answer[:300]


def test_a_body_that_stalls_gets_408_and_is_not_charged(rig: Rig) -> None:
    marker = uuid.uuid4().hex
    head = request(f"/proxy/docman/templates/pdf?m={marker}", "Content-Length: 100", method="POST",
                   token=service_token(rig.org, "quoter"))
    with socket.create_connection(("127.0.0.1", rig.janus.port), timeout=BODY_TIMEOUT + 5) as sock:
        started = time.monotonic()
        sock.sendall(head + b"x" * 10)
        answer = read_all(sock)
        waited = time.monotonic() - started
    assert status_of(answer) == 408 and b'"error": "BODY_TIMEOUT"' in answer, answer[:300]
    assert waited < BODY_TIMEOUT + 3
    time.sleep(0.5)
    assert [e for e in all_gas_events(rig.wallet.client, org=rig.org)
            if e.request_id == header_of(answer, "X-Request-ID")] == []


def test_a_slow_but_moving_body_is_not_cut(rig: Rig) -> None:
    head = request("/proxy/docman/templates/pdf?echo=1", "Content-Length: 9", method="POST",
                   token=service_token(rig.org, "quoter"))
    with socket.create_connection(("127.0.0.1", rig.janus.port), timeout=10) as sock:
        sock.sendall(head)
        for piece in (b"abc", b"def", b"ghi"):
            time.sleep(BODY_TIMEOUT * 0.6)
            sock.sendall(piece)
        answer = read_all(sock)
    assert status_of(answer) == 200 and body_of(answer) == b"abcdefghi"


# --------------------------------------------------------------------------- finding 12


def test_janus_does_not_name_its_stack_nor_its_pid(rig: Rig) -> None:
    answers = [exchange(rig.janus.port, request(target)) for target in ("/healthz", "/metrics", "/nowhere",
                                                                          "/proxy/docman/d/x", "/proxy/nope/x")]
    answers.append(exchange(rig.janus.port, b"GET /proxy/docman/d/x HTTP/1.1\r\nHost: j\r\nX Bad: 1\r\n\r\n"))
    for answer in answers:
        assert header_of(answer, "Server") == "janus", answer[:300]
    health = body_of(answers[0])
    assert b"pid" not in health and b'"status": "ok"' in health


@pytest.mark.parametrize("shape", [
    "GET /nowhere-{m} HTTP/1.1\r\nHost: j\r\nConnection: close\r\n\r\n",
    "GET /proxy/{m}%zz/x HTTP/1.1\r\nHost: j\r\nConnection: close\r\n\r\n",
    "GET /proxy/docman/{m}/%2e%2e/x HTTP/1.1\r\nHost: j\r\nConnection: close\r\n\r\n",
    "GET /proxy/docman/d HTTP/1.1\r\nHost: j\r\nX-{m} Bad: 1\r\n\r\n",
    "GET /proxy/docman/d HTTP/1.1\r\nHost: j\r\nX-Note: {m}\x01\r\n\r\n",
    "GET /proxy/docman/d HTTP/1.1\r\nHost: j\r\nConnection: close\r\nX-Bill-Org: {m}?a=1\r\n\r\n",
    "POST /proxy/docman/d HTTP/1.1\r\nHost: j\r\nContent-Length: {m}\r\n\r\n",
    "GET /proxy/docman/d HTTP/1.1\r\nHost: j\r\nX-Long: {m}" + "a" * 9000 + "\r\n\r\n",
    "GET /proxy/docman/d HTTP/1.1\r\nHost: j\r\nX-Note: {m}\x00b\r\n\r\n",
    "GET /proxy/docman/d {m}/1.1\r\nHost: j\r\n\r\n",
])
def test_refusals_never_repeat_the_request(rig: Rig, shape: str) -> None:
    marker = "zq" + uuid.uuid4().hex[:10]
    answer = exchange(rig.janus.port, shape.replace("{m}", marker).encode("latin-1"))
    assert 400 <= status_of(answer) < 500, answer[:300]
    assert marker.encode() not in answer, answer[:400]
    assert body_of(answer).startswith(b'{"error": "'), answer[:300]
