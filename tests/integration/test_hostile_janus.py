"""Hostile input against a real Janus, as raw bytes over sockets.

- hypothesis writes request lines and headers (methods, paths, encodings, spoofed
  identity headers, X-Bill-Org, junk) and checks every answer: Janus itself never
  fails (no 5xx but the documented 502/504), no request reaches the upstream with a
  client's own X-Caller-Org / X-Janus-Proxy / X-Request-ID, and an org that granted
  nothing is never billed through X-Bill-Org;
- request smuggling shapes (CL+TE, duplicate Content-Length, obs-fold, bare LF, …)
  are refused with 400 and never reach the upstream.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tawa.names import Grant
from tests.fixtures.janus import (
    TEST_ENV,
    JanusProcess,
    RecordingUpstream,
    Seen,
    default_services,
    service_token,
    start_janus,
)
from tests.fixtures.raw_http import exchange, header_of, status_of
from tests.fixtures.wallet import WalletServer, start_wallet_server

CALLER, VICTIM, GRANTOR = "fuzzacme", "fuzzvictim", "fuzzgrantor"
JANUS_HEADERS = ("x-caller-org", "x-janus-proxy", "x-request-id")
ALLOWED_5XX = {502, 504}  # upstream unreachable / too slow: documented, never charged


@dataclass
class Rig:
    wallet: WalletServer
    upstream: RecordingUpstream
    janus: JanusProcess


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    """One wallet, recording upstream and Janus for the module (hypothesis runs many examples)."""
    directory: Path = tmp_path_factory.mktemp("hostile-janus")
    wallet = start_wallet_server(directory)
    upstream = RecordingUpstream().start()
    janus = None
    try:  # a set-up that fails must not leave its servers running
        janus = start_janus(directory / "janus", wallet.url, wallet.token, default_services(upstream.url), TEST_ENV)
        for org in ("insureco", "legacyco", CALLER, VICTIM, GRANTOR):
            wallet.client.create_wallet(org)
        for org in (CALLER, VICTIM, GRANTOR):
            wallet.client.purchase(org, 100_000)
        wallet.client.put_bill_grants(GRANTOR, [Grant(CALLER, "quoter")])  # the victim granted nothing
        yield Rig(wallet, upstream, janus)
    finally:
        if janus is not None:
            janus.kill()
        upstream.stop()
        wallet.close()


def seen_with(upstream: RecordingUpstream, marker: str) -> list[Seen]:
    return [s for s in list(upstream.seen) if marker in s.query]


def settle(rig: Rig) -> None:
    """Stop and start Janus: it settles everything queued before it exits."""
    rig.janus.stop()
    rig.janus.start()


def api_charges(wallet: WalletServer, org: str) -> int:
    return wallet.client.gas_stats(by="service", org=org).tokens


# --------------------------------------------------------------------------- fuzzing

TOKEN_CHARS = "!#$%&'*+-.^_`|~" + "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
tokens = st.text(TOKEN_CHARS, min_size=1, max_size=12)
# Framing headers (Content-Length, Transfer-Encoding, Expect) are left to the smuggling tests:
# a request that announces a body and sends none only waits for a timeout.
# Header values: visible ASCII and obs-text, sometimes the bytes a parser must refuse.
values = st.one_of(
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40),
    st.text(st.characters(min_codepoint=0x80, max_codepoint=0xFF), max_size=10),
    st.sampled_from(["", " ", "\t", "a\x00b", "a\rb", "a\nb", "chunked", "0", "-1", "99999999999999999999",
                     CALLER, VICTIM, GRANTOR, "true", "false", "insureco"]),
)
spoofable = st.sampled_from(["X-Caller-Org", "x-caller-org", "X-CALLER-ORG", "X-Janus-Proxy", "x-janus-proxy",
                             "X-Request-ID", "x-request-id", "X-Bill-Org", "x-bill-org", "Connection",
                             "Host", "Upgrade", "TE", "Trailer",
                             "Authorization", "X-Forwarded-For", "Keep-Alive", "Proxy-Authorization"])
segments = st.lists(st.one_of(
    st.sampled_from(["documents", "templates", "pdf", "operations", "d", "health", "..", ".", "%2e%2e", "%2F",
                     "%00", "%", "%zz", "documents;x=1", "a b", "\u00e9", "\xff", "//", "?x", "#f"]),
    st.text(TOKEN_CHARS, min_size=1, max_size=8)), max_size=4)
methods = st.one_of(st.sampled_from(["GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH", "CONNECT",
                                     "TRACE", "get", "G ET", ""]), tokens)
services = st.sampled_from(["docman", "legacy-quotes", "DOCMAN", "nope", "", "..", "docman%2F..", "%64ocman"])
versions = st.sampled_from(["HTTP/1.1", "HTTP/1.1", "HTTP/1.1", "HTTP/1.0", "HTTP/2.0", "HTTP/1.1 x", "HTTP/9"])
auths = st.sampled_from(["own", "own", "none", "garbage", "victim-program"])


clean_values = st.one_of(st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=30),
                        st.sampled_from([CALLER, VICTIM, GRANTOR, "true", "insureco", "1"]))
spoofs = st.lists(st.tuples(st.sampled_from(["X-Caller-Org", "x-caller-org", "X-CALLER-ORG", "X-Janus-Proxy",
                                             "x-janus-proxy", "X-Request-ID", "x-request-id"]), clean_values),
                  min_size=1, max_size=4)


@st.composite
def requests(draw: st.DrawFn) -> tuple[bytes, str, dict[str, list[str]], str]:
    """Two in three look like real calls carrying spoofed identity headers (so that many reach the
    upstream and the header rules are tested where it matters); the rest are hostile throughout."""
    marker = uuid.uuid4().hex
    plausible = draw(st.integers(0, 2)) > 0
    if plausible:
        method = draw(st.sampled_from(["GET", "POST", "DELETE", "HEAD"]))
        service, version = "docman", "HTTP/1.1"
        path = "/proxy/docman/" + draw(st.sampled_from(["documents", "documents/7", "d/x", "health", "templates/pdf"]))
        auth = draw(st.sampled_from(["own", "own", "own", "none", "victim-program"]))
    else:
        method, service, version = draw(methods), draw(services), draw(versions)
        path = "/proxy/" + service + "/" + "/".join(draw(segments))
        auth = draw(auths)
    target = f"{path}?m={marker}"
    headers: list[tuple[str, str]] = [("Host", "janus")]
    if auth == "own":
        headers.append(("Authorization", f"Bearer {service_token(CALLER, 'quoter')}"))
    elif auth == "garbage":
        headers.append(("Authorization", draw(st.sampled_from(["Bearer x.y.z", "Basic Zm9vOmJhcg==", "Bearer"]))))
    elif auth == "victim-program":  # a token of a service the victim never registered: still not the victim
        headers.append(("Authorization", f"Bearer {service_token(None, 'rogue')}"))
    headers += draw(spoofs)
    if plausible and draw(st.booleans()):
        headers.append(("X-Bill-Org", draw(st.sampled_from([VICTIM, GRANTOR, CALLER]))))
    if not plausible:
        headers += draw(st.lists(st.tuples(st.one_of(spoofable, tokens), values), max_size=6))
    headers.append(("Connection", "close"))
    sent: dict[str, list[str]] = {}
    for name, value in headers:
        sent.setdefault(name.lower(), []).append(value)
    raw = f"{method} {target} {version}\r\n" + "".join(f"{n}: {v}\r\n" for n, v in headers) + "\r\n"
    return raw.encode("utf-8", "surrogateescape"), marker, sent, auth


@settings(max_examples=int(__import__("os").environ.get("TAWA_FUZZ_EXAMPLES", "150")), deadline=None,
          database=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(request=requests())
def test_fuzzed_requests_never_break_janus_nor_pass_a_spoofed_identity(rig: Rig, request: tuple) -> None:
    data, marker, sent, auth = request
    answer = exchange(rig.janus.port, data)
    status = status_of(answer)
    assert status < 500 or status in ALLOWED_5XX, (status, data, answer[:400])
    for seen in seen_with(rig.upstream, marker):
        got = {h: seen.all(h) for h in JANUS_HEADERS}
        assert got["x-janus-proxy"] == ["true"], (got, data)
        assert len(got["x-request-id"]) == 1 and got["x-request-id"] != sent.get("x-request-id"), (got, data)
        assert got["x-request-id"][0] == header_of(answer, "X-Request-ID"), (got, answer[:300])
        assert len(got["x-caller-org"]) <= 1, (got, data)
        if got["x-caller-org"]:
            # Janus's own verdict: the token's org, or a granting org — never a header's say-so.
            assert got["x-caller-org"][0] in (CALLER, GRANTOR, "quoter", "rogue"), (got, data)
            assert auth in ("own", "victim-program"), (got, data)
    assert api_charges(rig.wallet, VICTIM) == 0, f"{VICTIM} was billed: {data!r}"


def test_x_bill_org_bills_only_an_org_that_granted_the_caller(rig: Rig) -> None:
    token = service_token(CALLER, "quoter")
    settle(rig)  # the fuzzing before may have billed the grantor legitimately: count from here
    grantor = api_charges(rig.wallet, GRANTOR)
    for org, expected in ((VICTIM, 403), (GRANTOR, 200), (f" {VICTIM}", 403), (VICTIM.upper(), 400)):
        marker = uuid.uuid4().hex
        answer = exchange(rig.janus.port, (f"GET /proxy/docman/documents?m={marker} HTTP/1.1\r\nHost: j\r\n"
                                      f"Authorization: Bearer {token}\r\nX-Bill-Org: {org}\r\n"
                                      "Connection: close\r\n\r\n").encode())
        assert status_of(answer) == expected, (org, answer[:300])
        assert len(seen_with(rig.upstream, marker)) == (1 if expected == 200 else 0)
    two = exchange(rig.janus.port, (f"GET /proxy/docman/documents HTTP/1.1\r\nHost: j\r\nAuthorization: Bearer {token}"
                               f"\r\nX-Bill-Org: {GRANTOR}\r\nX-Bill-Org: {VICTIM}\r\nConnection: close\r\n\r\n")
                   .encode())
    assert status_of(two) == 400
    settle(rig)
    assert api_charges(rig.wallet, VICTIM) == 0  # nor by anything the fuzzing sent before
    assert rig.wallet.client.get_wallet(VICTIM).balances.purchased == 100_000
    assert api_charges(rig.wallet, GRANTOR) == grantor + 5


# --------------------------------------------------------------------------- smuggling

AUTH = "Authorization: Bearer {token}\r\n"
SMUGGLING = {
    "CL and TE": "POST {t} HTTP/1.1\r\nHost: j\r\n{a}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n"
                 "Connection: close\r\n\r\n0\r\n\r\nGET /proxy/docman/documents HTTP/1.1\r\n\r\n",
    "TE and CL": "POST {t} HTTP/1.1\r\nHost: j\r\n{a}Transfer-Encoding: chunked\r\nContent-Length: 5\r\n"
                 "Connection: close\r\n\r\n0\r\n\r\n",
    "two different Content-Length": "POST {t} HTTP/1.1\r\nHost: j\r\n{a}Content-Length: 1\r\nContent-Length: 2\r\n"
                                    "Connection: close\r\n\r\nab",
    "two equal Content-Length": "POST {t} HTTP/1.1\r\nHost: j\r\n{a}Content-Length: 2\r\nContent-Length: 2\r\n"
                                "Connection: close\r\n\r\nab",
    "Content-Length list": "POST {t} HTTP/1.1\r\nHost: j\r\n{a}Content-Length: 2, 2\r\nConnection: close\r\n\r\nab",
    "Content-Length +2": "POST {t} HTTP/1.1\r\nHost: j\r\n{a}Content-Length: +2\r\nConnection: close\r\n\r\nab",
    "Content-Length hex": "POST {t} HTTP/1.1\r\nHost: j\r\n{a}Content-Length: 0x2\r\nConnection: close\r\n\r\nab",
    "obs-fold": "GET {t} HTTP/1.1\r\nHost: j\r\n{a}X-Note: a\r\n b\r\nConnection: close\r\n\r\n",
    "obs-fold hiding TE": "POST {t} HTTP/1.1\r\nHost: j\r\n{a}X-Note: a\r\n\tTransfer-Encoding: chunked\r\n"
                          "Content-Length: 5\r\nConnection: close\r\n\r\n0\r\n\r\n",
    "bare LF": "GET {t} HTTP/1.1\nHost: j\n{a_lf}Connection: close\n\n",
    "bare LF in one header": "GET {t} HTTP/1.1\r\nHost: j\n{a}Connection: close\r\n\r\n",
    "space before colon": "POST {t} HTTP/1.1\r\nHost: j\r\n{a}Transfer-Encoding : chunked\r\nConnection: close\r\n\r\n"
                          "0\r\n\r\n",
    "TE xchunked": "POST {t} HTTP/1.1\r\nHost: j\r\n{a}Transfer-Encoding: xchunked\r\nConnection: close\r\n\r\n"
                   "0\r\n\r\n",
    "TE chunked, identity": "POST {t} HTTP/1.1\r\nHost: j\r\n{a}Transfer-Encoding: chunked, identity\r\n"
                            "Connection: close\r\n\r\n0\r\n\r\n",
    "TE twice": "POST {t} HTTP/1.1\r\nHost: j\r\n{a}Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n"
                "Connection: close\r\n\r\n0\r\n\r\n",
    "chunk size overflow": "POST {t} HTTP/1.1\r\nHost: j\r\n{a}Transfer-Encoding: chunked\r\nConnection: close\r\n"
                           "\r\nfffffffffffffffffff1\r\nab\r\n0\r\n\r\n",
    "NUL in a value": "GET {t} HTTP/1.1\r\nHost: j\r\n{a}X-Note: a\x00b\r\nConnection: close\r\n\r\n",
    "CR in a value": "GET {t} HTTP/1.1\r\nHost: j\r\n{a}X-Note: a\rb\r\nConnection: close\r\n\r\n",
    "space in a name": "GET {t} HTTP/1.1\r\nHost: j\r\n{a}X Note: a\r\nConnection: close\r\n\r\n",
    "two Host": "GET {t} HTTP/1.1\r\nHost: j\r\nHost: k\r\n{a}Connection: close\r\n\r\n",
}


@pytest.mark.parametrize("shape", SMUGGLING)
def test_request_smuggling_shapes_are_refused_and_never_reach_the_upstream(rig: Rig, shape: str) -> None:
    marker = uuid.uuid4().hex
    auth = AUTH.format(token=service_token(CALLER, "quoter"))
    raw = SMUGGLING[shape].format(t=f"/proxy/docman/documents?m={marker}", a=auth, a_lf=auth.replace("\r\n", "\n"))
    answer = exchange(rig.janus.port, raw.encode("latin-1"))
    assert status_of(answer) == 400, (shape, answer[:400])
    assert b"Connection: close" in answer or answer.count(b"HTTP/1.") == 1  # nothing pipelined gets answered
    assert seen_with(rig.upstream, marker) == [], f"{shape} reached the upstream"
    assert not [s for s in rig.upstream.seen if s.path.startswith("/documents") and not s.query], \
        "a smuggled request reached the upstream"
