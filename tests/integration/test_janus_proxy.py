"""Janus as a proxy, over real sockets: what reaches the upstream, what comes
back, what is refused. A real wallet and a real Janus process in every test."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import Any

import httpx
import jwt
import pytest

from tests.fixtures import janus as keys
from tests.fixtures.janus import (
    DOCMAN_ROUTES,
    TEST_JWT_SECRET,
    JanusProcess,
    RecordingUpstream,
    component_doc,
    unique_org,
)
from tests.fixtures.wallet import WalletServer
from tests.integration.janus_module_fixtures import janus, upstream, wallet  # noqa: F401


@pytest.fixture
def org(wallet: WalletServer) -> str:
    """An org of this test's own with 1000 tokens for API gas; docman's owner exists to be credited."""
    name = unique_org("acme")
    wallet.client.create_wallet(name)
    wallet.client.create_wallet("insureco")
    wallet.client.purchase(name, 1000)
    return name


def raw_http(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(request)
        chunks = []
        while True:
            data = s.recv(65536)
            if not data:
                return b"".join(chunks)
            chunks.append(data)


def test_upstream_sees_janus_headers_and_not_spoofed_ones(janus: JanusProcess, upstream: RecordingUpstream,
                                                          org: str) -> None:
    spoofed = {"X-Request-ID": "spoofed-id", "X-Janus-Proxy": "false", "X-Caller-Org": "victim",
               "Connection": "X-Hop-Secret", "X-Hop-Secret": "drop-me", "Keep-Alive": "timeout=1",
               "X-End-To-End": "kept"}
    r = httpx.put(janus.proxy("docman", "/templates/pdf/7?draft=true&x=%2F"), content=b"payload",
                  headers={**janus.auth(org, "quoter"), **spoofed})
    assert r.status_code == 200, r.text
    seen = upstream.last
    assert (seen.method, seen.path, seen.query, seen.body) == ("PUT", "/templates/pdf/7", "draft=true&x=%2F",
                                                               b"payload")
    assert seen.all("X-Request-ID") == [r.headers["X-Request-ID"]] and seen.header("X-Request-ID") != "spoofed-id"
    assert seen.all("X-Janus-Proxy") == ["true"]
    assert seen.all("X-Caller-Org") == [org]
    assert seen.header("X-Hop-Secret") is None and seen.header("Keep-Alive") is None
    assert seen.header("X-End-To-End") == "kept"
    assert seen.header("Authorization") is None  # the Janus token is not replayable by the upstream
    # And on the way back: the upstream's hop-by-hop headers stop at Janus.
    assert r.headers.get("X-Upstream") == "recording" and "X-Secret-Hop" not in r.headers


def test_free_public_route_needs_no_token_and_names_no_org(janus: JanusProcess, upstream: RecordingUpstream) -> None:
    r = httpx.get(janus.proxy("docman", "/d/abc123"), headers={"X-Caller-Org": "victim"})
    assert r.status_code == 200
    assert upstream.last.header("X-Caller-Org") is None
    assert upstream.last.header("X-Janus-Proxy") == "true"


def test_methods_and_bodies_stream_both_ways(janus: JanusProcess, upstream: RecordingUpstream, org: str) -> None:
    big = bytes(range(256)) * 8192  # 2 MiB
    r = httpx.post(janus.proxy("docman", "/templates/pdf?echo=1"), content=big, headers=janus.auth(org))
    assert r.status_code == 200 and r.content == big
    assert upstream.last.header("Content-Length") == str(len(big))

    def chunks() -> Any:
        for i in range(0, len(big), 65536):
            yield big[i:i + 65536]

    r = httpx.post(janus.proxy("docman", "/templates/pdf?echo=1&stream=1"), content=chunks(),
                   headers=janus.auth(org))
    assert r.status_code == 200 and r.content == big
    assert upstream.last.header("Transfer-Encoding") == "chunked"
    for method in ("DELETE", "GET", "HEAD"):
        r = httpx.request(method, janus.proxy("docman", "/templates/pdf/1"), headers=janus.auth(org))
        assert r.status_code == 200 and upstream.last.method == method


def test_unknown_service_is_404_json(janus: JanusProcess) -> None:
    r = httpx.get(janus.proxy("nope", "/x"))
    assert r.status_code == 404
    body = r.json()
    assert body["error"] == "UNKNOWN_SERVICE" and "nope" in body["message"]
    assert httpx.get(f"{janus.url}/elsewhere").json()["error"] == "NOT_FOUND"


def test_ambiguous_requests_are_refused(janus: JanusProcess, upstream: RecordingUpstream) -> None:
    answer = raw_http(janus.port, b"POST /proxy/docman/d HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                                  b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
    assert answer.startswith((b"HTTP/1.1 400", b"HTTP/1.0 400")), answer[:200]
    assert b"AMBIGUOUS_LENGTH" in answer
    r = httpx.get(janus.proxy("docman", "/d/x"), headers=[("X-Bill-Org", "a"), ("X-Bill-Org", "b")])
    assert r.status_code == 400 and r.json()["error"] == "DUPLICATE_BILL_ORG"
    assert upstream.seen == []


def test_service_routes_need_a_token(janus: JanusProcess, upstream: RecordingUpstream) -> None:
    r = httpx.get(janus.proxy("docman", "/documents"))
    assert r.status_code == 401 and r.json()["error"] == "TOKEN_REQUIRED"
    # An unpriced path is a service route too (public is opt-in).
    assert httpx.get(janus.proxy("docman", "/unlisted")).status_code == 401
    assert upstream.seen == []


def test_bad_tokens_are_401(janus_factory: Callable[..., JanusProcess], upstream: RecordingUpstream,
                            org: str) -> None:
    rsa_key = keys.new_rsa_key()
    jwks = keys.JwksServer(keys.jwks_document(rsa_key)).start()
    try:
        janus = janus_factory(env={"TAWA_JANUS_JWKS_URL": jwks.url})
        good = keys.claims(org, "quoter")
        bad = {
            "alg none": keys.forge(good, "none"),
            "wrong audience": jwt.encode(keys.claims(audience="not-janus"), TEST_JWT_SECRET, algorithm="HS256"),
            "expired": jwt.encode(keys.claims(ttl=-5), TEST_JWT_SECRET, algorithm="HS256"),
            "wrong HMAC key": jwt.encode(good, "x" * 40, algorithm="HS256"),
            "wrong RSA key": keys.rs256(keys.new_rsa_key(), good),
            "HS256 keyed with the RSA public key": keys.forge(good, "HS256", keys.public_pem(rsa_key)),
        }
        for what, token in bad.items():
            r = httpx.get(janus.proxy("docman", "/documents"), headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 401, what
            assert r.json()["error"] == "INVALID_TOKEN", what
        assert upstream.seen == []
        # The same key material used properly passes.
        ok = httpx.get(janus.proxy("docman", "/documents"),
                       headers={"Authorization": f"Bearer {keys.rs256(rsa_key, good)}"})
        assert ok.status_code == 200, ok.text
    finally:
        jwks.stop()


def test_registry_cache_expiry(janus_factory: Callable[..., JanusProcess], upstream: RecordingUpstream) -> None:
    ttl = 4.0
    janus = janus_factory(env={"TAWA_JANUS_REGISTRY_TTL": str(ttl)})
    newcomer = component_doc("newcomer", "acme", upstream.url,
                             [{"path": "/", "methods": ["GET"], "auth": "public", "gas": 0}])
    cached_at = time.monotonic()
    assert httpx.get(janus.proxy("newcomer", "/hi")).status_code == 404
    assert httpx.get(janus.proxy("docman", "/d/1")).status_code == 200
    janus.write_registry([newcomer])  # docman removed, newcomer added
    assert httpx.get(janus.proxy("newcomer", "/hi")).status_code == 404  # the miss is cached
    assert httpx.get(janus.proxy("docman", "/d/1")).status_code == 200  # so is the hit
    assert time.monotonic() - cached_at < ttl, "too slow to observe the cache; the checks above prove nothing"
    time.sleep(max(0.0, cached_at + ttl + 0.3 - time.monotonic()))
    assert httpx.get(janus.proxy("newcomer", "/hi")).status_code == 200
    assert httpx.get(janus.proxy("docman", "/d/1")).status_code == 404


def test_upstream_down_is_502_json(janus_factory: Callable[..., JanusProcess]) -> None:
    from tests.fixtures.ports import free_port

    janus = janus_factory(services=[component_doc("ghost", "acme", f"http://127.0.0.1:{free_port()}",
                                                  [{"path": "/", "auth": "public", "gas": 0}])])
    r = httpx.get(janus.proxy("ghost", "/x"))
    assert r.status_code == 502 and r.json()["error"] == "UPSTREAM_UNAVAILABLE"


def test_healthz_and_metrics(janus_factory: Callable[..., JanusProcess], org: str) -> None:
    janus = janus_factory()  # its own process: the counts below start from zero
    assert httpx.get(f"{janus.url}/healthz").json()["status"] == "ok"
    httpx.get(janus.proxy("docman", "/documents"), headers=janus.auth(org))
    httpx.get(janus.proxy("docman", "/d/1"))
    time.sleep(0.3)
    text = httpx.get(f"{janus.url}/metrics").text
    assert 'janus_requests_total{service="docman",status="200"} 2.0' in text
    assert 'janus_gas_charged_tokens_total{service="docman"} 5.0' in text
    assert "janus_upstream_latency_seconds_bucket" in text
    assert "janus_fail_open_total" in text and "janus_insufficient_gas_total" in text
    assert DOCMAN_ROUTES  # (the fixture's routes are the spec's)


def test_upstream_dying_mid_body_truncates_and_is_not_charged(janus: JanusProcess, wallet: WalletServer,
                                                             org: str) -> None:
    with pytest.raises(httpx.HTTPError):
        httpx.post(janus.proxy("docman", "/documents?stream=1&cut=1&size=100000"), headers=janus.auth(org))
    time.sleep(0.3)
    assert wallet.client.get_wallet(org).balances.purchased == 1000


def test_expect_100_continue_is_answered_after_authorisation(janus: JanusProcess, upstream: RecordingUpstream,
                                                            org: str) -> None:
    token = janus.auth(org)["Authorization"]
    with socket.create_connection(("127.0.0.1", janus.port), timeout=5) as s:
        s.sendall(f"POST /proxy/docman/templates/pdf?echo=1 HTTP/1.1\r\nHost: x\r\nAuthorization: {token}\r\n"
                  "Content-Length: 5\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n".encode())
        assert s.recv(100).startswith(b"HTTP/1.1 100 Continue")
        s.sendall(b"hello")
        answer = b""
        while chunk := s.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b"hello")
    assert upstream.last.header("Expect") is None
