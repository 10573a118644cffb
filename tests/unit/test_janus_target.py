"""The canonical request target: what Janus prices is what the upstream serves."""

from __future__ import annotations

import re
import string
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tawa.gas.pricing import PricedRoute, price_request
from tawa.janus.target import NON_CANONICAL, NonCanonical, ProxyTarget, case_problem, proxy_target
from tests.fixtures.janus import DOCMAN_ROUTES

ROUTES = tuple(PricedRoute(r["path"], tuple(r["methods"]), r["auth"], r["gas"]) for r in DOCMAN_ROUTES)


def accepted(raw: str) -> ProxyTarget:
    target = proxy_target(raw)
    assert isinstance(target, ProxyTarget), target
    return target


def refused(raw: str) -> str:
    target = proxy_target(raw)
    assert isinstance(target, NonCanonical), target
    assert target.error == NON_CANONICAL
    return target.message


# --------------------------------------------------------------------------- the findings, one by one


def test_dot_segments_are_resolved_before_pricing() -> None:
    # Issue 12, finding 1: priced as the free public /d, served as /documents.
    assert accepted("/proxy/docman/d/../documents") == ProxyTarget("docman", "/documents", "")
    assert accepted("/proxy/docman/templates/pdf/../../documents").path == "/documents"
    assert accepted("/proxy/docman/./documents/./7").path == "/documents/7"


@pytest.mark.parametrize("raw", ["/proxy/docman/d/%2e%2e/documents", "/proxy/docman/d/%2E%2E/documents",
                                 "/proxy/docman/d/.%2e/documents", "/proxy/docman/d/%2e./documents",
                                 "/proxy/docman/%2e/documents", "/proxy/docman/documents/%2E"])
def test_encoded_dot_segments_are_refused(raw: str) -> None:
    assert "%2e" in refused(raw)


@pytest.mark.parametrize(("raw", "says"), [
    ("/proxy/docman/documents;x=1", "';'"),
    ("/proxy/docman/documents;/x", "';'"),
    ("/proxy/docman/a%2Fb", "%2F"),
    ("/proxy/docman/a%2fb", "%2F"),
    ("/proxy/docman/a%5Cb", "%5C"),
    ("/proxy/docman/a\\..\\documents", "backslash"),
    ("/proxy/docman/a%00b", "NUL"),
    ("/proxy/docman/a\x00b", "NUL"),
    ("/proxy/docman/%zz", "two hex digits"),
    ("/proxy/docman/%2", "two hex digits"),
    ("/proxy/docman/a b", "percent-encode"),
    ("/proxy/docman/\u00e9", "percent-encode"),
    ("/proxy/docman/a#/../../documents", "fragment"),
])
def test_what_upstreams_disagree_on_is_refused(raw: str, says: str) -> None:
    assert says in refused(raw)


@pytest.mark.parametrize("raw", ["/proxy/docman/..", "/proxy/docman/../legacy-quotes/x", "/proxy/docman/a/../../b",
                                 "/proxy/docman/../docman/documents", "/proxy/../docman/documents",
                                 "/proxy/./docman/documents"])
def test_nothing_climbs_above_the_service(raw: str) -> None:
    refused(raw)


def test_unreserved_escapes_are_decoded_and_others_kept_in_upper_case() -> None:
    assert accepted("/proxy/%64ocman/doc%75ments/%7e%41").path == "/documents/~A"
    assert accepted("/proxy/%64ocman/x").service == "docman"
    assert accepted("/proxy/docman/a%c3%a9%20b%3b%25").path == "/a%C3%A9%20b%3B%25"


def test_the_query_goes_on_as_sent_and_the_path_keeps_its_shape() -> None:
    target = accepted("/proxy/docman/templates/pdf/7?draft=true&x=%2F&y=..%2f;z")
    assert (target.path, target.query) == ("/templates/pdf/7", "draft=true&x=%2F&y=..%2f;z")
    assert target.upstream_target == "/templates/pdf/7?draft=true&x=%2F&y=..%2f;z"
    assert accepted("/proxy/docman").upstream_target == "/"
    assert accepted("/proxy/docman/").path == "/"
    assert accepted("/proxy/docman/documents/").path == "/documents/"
    assert accepted("/proxy/docman/documents/7/..").path == "/documents/"
    assert accepted("/proxy/docman/a//b").path == "/a//b"  # empty segments are kept, as RFC 3986 keeps them


def test_a_path_whose_price_depends_on_letter_case_is_refused() -> None:
    # Issue 12, finding 7: /Documents was charged the default 1 by an upstream that serves /documents.
    def problem(path: str, method: str = "GET") -> NonCanonical | None:
        return case_problem(price_request(ROUTES, path, method),
                            price_request(ROUTES, path, method, fold_case=True))

    for path in ("/Documents", "/DOCUMENTS/7", "/D/x", "/Templates/PDF"):
        found = problem(path)
        assert found is not None and found.error == NON_CANONICAL, path
        assert path not in found.message
    assert "/documents" in str(problem("/Documents"))  # the fix: the route's own spelling
    for path in ("/documents", "/documents/ABC", "/unlisted", "/Unlisted", "/templates/pdf/X"):
        assert problem(path) is None, path


def test_refusals_never_repeat_the_request() -> None:
    marker = "zq" + uuid.uuid4().hex[:8]
    for raw in (f"/proxy/docman/{marker}/%2e%2e/x", f"/proxy/docman/{marker};x", f"/proxy/docman/{marker}%2F",
                f"/proxy/docman/{marker}\\", f"/proxy/docman/{marker} x", f"/proxy/docman/../{marker}",
                f"/proxy/docman/{marker}%zz", f"/proxy/docman/{marker}#x", f"/x/{marker}"):
        assert marker not in refused(raw), raw


# --------------------------------------------------------------------------- the property


def rfc3986_remove_dot_segments(path: str) -> str:
    """RFC 3986 §5.2.4 as written (the input-buffer algorithm), as a resolving upstream runs it."""
    inp, out = path, ""
    while inp:
        if inp.startswith("../"):
            inp = inp[3:]
        elif inp.startswith("./"):
            inp = inp[2:]
        elif inp.startswith("/./"):
            inp = "/" + inp[3:]
        elif inp == "/.":
            inp = "/"
        elif inp.startswith("/../") or inp == "/..":
            inp = "/" + inp[4:]
            out = out[:max(out.rfind("/"), 0)]
        elif inp in (".", ".."):
            inp = ""
        else:
            end = inp.find("/", 1 if inp.startswith("/") else 0)
            end = len(inp) if end == -1 else end
            out, inp = out + inp[:end], inp[end:]
    return out


def decode_unreserved(path: str) -> str:
    """RFC 3986 §6.2.2.2: escapes of unreserved characters are the characters themselves."""
    def one(match: re.Match[str]) -> str:
        char = chr(int(match.group(1), 16))
        return char if char in string.ascii_letters + string.digits + "-._~" else match.group(0).upper()

    return re.sub(r"%([0-9A-Fa-f]{2})", one, path)


def upstream_route(forwarded: str, method: str) -> PricedRoute | None:
    """The route an upstream serves for the path it receives: it resolves dot segments (RFC 3986),
    decodes unreserved escapes and, like Express by default, ignores letter case."""
    served = rfc3986_remove_dot_segments(decode_unreserved(forwarded))
    return price_request(ROUTES, served, method, fold_case=True).route


# Mostly segments Janus accepts (so that many paths get through to the pricing), some hostile ones.
PLAIN = st.sampled_from(["documents", "Documents", "DOCUMENTS", "doc%75ments", "d", "D", "templates", "pdf",
                         "PDF", "operations", "health", "7", "", ".", "..", "...", "..%2e", "%41", "~", "a:b@c",
                         "a%20b", "%3B", "%c3%a9"])
HOSTILE = st.sampled_from(["%2e", "%2E%2e", ".%2e", "%2e.", ";x=1", "documents;x=1", "%2F", "%2f", "%5C", "\\",
                           "%00", "%zz", "%", "\u00e9", "a b"])
paths = st.lists(st.one_of(PLAIN, PLAIN, PLAIN, PLAIN, HOSTILE), max_size=7).map("/".join)
queries = st.sampled_from(["", "?x=1", "?p=../documents", "?x=%2F;y"])
methods = st.sampled_from(["GET", "POST", "PUT", "DELETE", "HEAD"])


@settings(max_examples=500)
@given(path=paths, query=queries, method=methods)
def test_the_route_janus_prices_is_the_route_a_resolving_upstream_serves(path: str, query: str,
                                                                         method: str) -> None:
    raw = "/proxy/docman/" + path + query
    target = proxy_target(raw)
    if isinstance(target, NonCanonical):
        return  # refused: nothing is priced or forwarded
    # What Janus forwards is canonical: resolving it again changes nothing ...
    assert rfc3986_remove_dot_segments(decode_unreserved(target.path)) == target.path
    assert proxy_target("/proxy/docman" + target.upstream_target) == target
    # ... and it is what a resolving upstream would have made of the original target,
    assert "/proxy/docman" + target.path == rfc3986_remove_dot_segments(decode_unreserved("/proxy/docman/" + path))
    assert target.query == query[1:]
    # so the route Janus prices (when it does not refuse for case) is the route the upstream serves.
    price = price_request(ROUTES, target.path, method)
    if case_problem(price, price_request(ROUTES, target.path, method, fold_case=True)) is None:
        assert price.route == upstream_route(target.upstream_target.partition("?")[0], method), raw
