"""Header hygiene: what crosses the proxy and what is refused."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tawa.janus import headers as hdr


def names(pairs: list[tuple[str, str]]) -> list[str]:
    return [n.lower() for n, _ in pairs]


def test_janus_headers_are_replaced_not_trusted() -> None:
    inbound = [("x-request-id", "spoofed"), ("X-JANUS-PROXY", "false"), ("X-Caller-Org", "victim"),
               ("Accept", "application/json")]
    out = hdr.upstream_request(inbound, request_id="rid", caller_org="acme", client_ip="10.0.0.1",
                               drop_authorization=False)
    assert [v for n, v in out if n.lower() == "x-request-id"] == ["rid"]
    assert [v for n, v in out if n.lower() == "x-janus-proxy"] == ["true"]
    assert [v for n, v in out if n.lower() == "x-caller-org"] == ["acme"]
    assert ("Accept", "application/json") in out


def test_no_caller_org_header_when_nobody_is_known() -> None:
    out = hdr.upstream_request([("X-Caller-Org", "victim")], request_id="r", caller_org=None, client_ip=None,
                               drop_authorization=False)
    assert "x-caller-org" not in names(out)


def test_hop_by_hop_and_connection_named_headers_are_stripped() -> None:
    inbound = [("Connection", "keep-alive, X-Private, Upgrade"), ("Keep-Alive", "timeout=5"), ("X-Private", "1"),
               ("Upgrade", "websocket"), ("TE", "trailers"), ("Proxy-Authorization", "Basic x"),
               ("Trailer", "X-T"), ("Host", "janus"), ("Content-Length", "3"), ("X-Kept", "yes")]
    out = hdr.upstream_request(inbound, request_id="r", caller_org=None, client_ip=None, drop_authorization=False)
    assert set(names(out)) == {"x-kept", "x-request-id", "x-janus-proxy"}


def test_authorization_is_dropped_only_when_janus_consumed_it() -> None:
    inbound = [("Authorization", "Bearer t")]
    kept = hdr.upstream_request(inbound, request_id="r", caller_org=None, client_ip=None, drop_authorization=False)
    dropped = hdr.upstream_request(inbound, request_id="r", caller_org=None, client_ip=None, drop_authorization=True)
    assert "authorization" in names(kept) and "authorization" not in names(dropped)


def test_forwarded_for_is_appended() -> None:
    out = hdr.upstream_request([("X-Forwarded-For", "1.2.3.4")], request_id="r", caller_org=None,
                               client_ip="127.0.0.1", drop_authorization=False)
    assert ("X-Forwarded-For", "1.2.3.4, 127.0.0.1") in out


def test_ambiguous_framing_is_refused() -> None:
    problem = hdr.check_request([("Content-Length", "3"), ("Transfer-Encoding", "chunked")])
    assert problem is not None and problem.error == "AMBIGUOUS_LENGTH"
    assert hdr.check_request([("Content-Length", "3"), ("content-length", "4")]) is not None
    assert hdr.check_request([("Content-Length", "3"), ("content-length", "3")]) is None


def test_more_than_one_bill_org_is_refused() -> None:
    for headers in ([("X-Bill-Org", "a"), ("x-bill-org", "b")], [("X-Bill-Org", "a"), ("X-Bill-Org", "a")],
                    [("X-Bill-Org", "a, b")]):
        problem = hdr.check_request(headers)
        assert problem is not None and problem.error == "DUPLICATE_BILL_ORG", headers
    assert hdr.check_request([("X-Bill-Org", "acme")]) is None
    assert hdr.bill_org([("x-bill-org", " acme ")]) == "acme"


def test_response_headers_lose_hop_by_hop_and_gain_the_request_id() -> None:
    upstream = [("Connection", "close, X-Hop"), ("X-Hop", "1"), ("Transfer-Encoding", "chunked"),
                ("Content-Type", "text/plain"), ("X-Request-ID", "theirs"), ("Set-Cookie", "a=1"),
                ("Set-Cookie", "b=2"), ("Server", "gunicorn/21.2")]
    out = hdr.downstream_response(upstream, "ours")
    assert out == [("Content-Type", "text/plain"), ("Set-Cookie", "a=1"), ("Set-Cookie", "b=2"),
                   ("X-Request-ID", "ours"), ("Server", "janus")]


def test_method_overrides_and_underscore_names_never_reach_the_upstream() -> None:
    inbound = [("X-HTTP-Method-Override", "POST"), ("x-http-method", "DELETE"), ("X-Method-Override", "PUT"),
               ("X_Caller_Org", "victim"), ("x_bill_org", "victim"), ("X-Caller_Org", "victim"),
               ("X-Kept", "yes")]
    out = hdr.upstream_request(inbound, request_id="r", caller_org="acme", client_ip=None,
                               drop_authorization=False)
    assert set(names(out)) == {"x-kept", "x-request-id", "x-janus-proxy", "x-caller-org"}
    assert [v for n, v in out if n.lower().replace("_", "-") == "x-caller-org"] == ["acme"]


header_name = st.sampled_from(["X-Request-ID", "x-janus-proxy", "X-CALLER-ORG", "Connection", "Keep-Alive",
                               "Transfer-Encoding", "Upgrade", "X-Other", "Accept", "Host"])


@given(st.lists(st.tuples(header_name, st.text(alphabet="abc, -", max_size=12)), max_size=12))
def test_janus_owned_headers_appear_exactly_once_whatever_comes_in(inbound: list[tuple[str, str]]) -> None:
    out = hdr.upstream_request(inbound, request_id="rid", caller_org="org", client_ip=None, drop_authorization=True)
    lowered = names(out)
    for owned in ("x-request-id", "x-janus-proxy", "x-caller-org"):
        assert lowered.count(owned) == 1
    assert not set(lowered) & hdr.HOP_BY_HOP
