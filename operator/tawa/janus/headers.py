"""Header hygiene for the proxy (pure: plain (name, value) pairs in and out).

Janus is the only party allowed to set its own headers, so inbound copies are
dropped before its values are added; hop-by-hop headers belong to a single
connection (RFC 9110 §7.6.1) and never cross the proxy.

Two kinds of request header are dropped (not refused: clients and libraries
send them routinely, and nothing the caller meant is lost) because the
upstream could read them differently from Janus:

- method overrides (`X-HTTP-Method-Override` and its kin): Janus prices the
  request line's method, so that is the method the upstream runs;
- names with an underscore: WSGI/CGI servers turn `X_Caller_Org` and
  `X-Caller-Org` into the same `HTTP_X_CALLER_ORG`, so an underscore name could
  pass for a header Janus sets (nginx drops them by default too).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tawa import names

Headers = Sequence[tuple[str, str]]

REQUEST_ID = "X-Request-ID"
JANUS_PROXY = "X-Janus-Proxy"
CALLER_ORG = "X-Caller-Org"
BILL_ORG = "X-Bill-Org"

HOP_BY_HOP = frozenset({
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
    "trailer", "trailers", "transfer-encoding", "upgrade", "proxy-connection",
})
JANUS_OWNED = frozenset({REQUEST_ID.lower(), JANUS_PROXY.lower(), CALLER_ORG.lower()})
# Set by the client library for the upstream connection, or by Janus itself.
REQUEST_REPLACED = frozenset({"host", "content-length", "expect"}) | JANUS_OWNED
METHOD_OVERRIDES = frozenset({"x-http-method-override", "x-http-method", "x-method-override"})
# Every response names Janus, not the software it runs on.
SERVER = ("Server", "janus")
RESPONSE_REPLACED = frozenset({"content-length", "date", "server"})


@dataclass(frozen=True)
class HeaderProblem:
    """Why a request is refused with 400 before anything else happens."""

    error: str
    message: str


def connection_tokens(headers: Headers) -> frozenset[str]:
    """Header names listed in Connection: they are hop-by-hop for this message."""
    names: set[str] = set()
    for name, value in headers:
        if name.lower() == "connection":
            names.update(t.strip().lower() for t in value.split(",") if t.strip())
    return frozenset(names)


def _values(headers: Headers, wanted: str) -> list[str]:
    return [v for n, v in headers if n.lower() == wanted]


_CHECKED = frozenset({"content-length", "transfer-encoding", BILL_ORG.lower()})


def check_request(headers: Headers) -> HeaderProblem | None:
    """Refuse framing that two parsers could read differently (request smuggling)
    and billing headers that name more than one org."""
    if not any(n.lower() in _CHECKED for n, _ in headers):
        return None  # the common case, in one pass
    lengths, encodings = _values(headers, "content-length"), _values(headers, "transfer-encoding")
    if lengths and encodings:
        return HeaderProblem("AMBIGUOUS_LENGTH", "The request has both Content-Length and "
                             "Transfer-Encoding; send only one of them.")
    if len(set(lengths)) > 1:
        return HeaderProblem("AMBIGUOUS_LENGTH", "The request has conflicting Content-Length "
                             "headers; send exactly one.")
    bill = _values(headers, BILL_ORG.lower())
    if len(bill) > 1 or any("," in v for v in bill):
        return HeaderProblem("DUPLICATE_BILL_ORG", "The request names more than one X-Bill-Org; "
                             "send a single X-Bill-Org header with one org.")
    if bill and not names.is_org(bill[0].strip()):
        # Checked before any use: the value picks a wallet, so only the canonical form may pass.
        return HeaderProblem("INVALID_BILL_ORG", f"X-Bill-Org must be {names.ORG_RULE}; send the "
                             "org's slug or leave the header out.")
    return None


def bill_org(headers: Headers) -> str | None:
    values = _values(headers, BILL_ORG.lower())
    return values[0].strip() if values else None


def _kept(headers: Headers, also_drop: frozenset[str], underscores: bool = True) -> list[tuple[str, str]]:
    drop = HOP_BY_HOP | also_drop
    named = connection_tokens(headers) if any(n.lower() == "connection" for n, _ in headers) else ()
    return [(n, v) for n, v in headers
            if (low := n.lower()) not in drop and low not in named and (underscores or "_" not in n)]


_REQUEST_DROP = REQUEST_REPLACED | METHOD_OVERRIDES | {"x-forwarded-for"}
_REQUEST_DROP_AUTH = _REQUEST_DROP | {"authorization"}
_RESPONSE_DROP = RESPONSE_REPLACED | {REQUEST_ID.lower()}


def upstream_request(
    headers: Headers,
    *,
    request_id: str,
    caller_org: str | None,
    client_ip: str | None,
    drop_authorization: bool,
) -> list[tuple[str, str]]:
    """The headers sent upstream: the caller's end-to-end headers, then Janus's own.

    The Authorization header is dropped when it carried the caller's Janus
    token, so that an upstream cannot replay it against Janus as the caller.
    """
    out = _kept(headers, _REQUEST_DROP_AUTH if drop_authorization else _REQUEST_DROP, underscores=False)
    forwarded = _values(headers, "x-forwarded-for")
    if client_ip:
        forwarded.append(client_ip)
    if forwarded:
        out.append(("X-Forwarded-For", ", ".join(forwarded)))
    out.append((REQUEST_ID, request_id))
    out.append((JANUS_PROXY, "true"))
    if caller_org:
        out.append((CALLER_ORG, caller_org))
    return out


def downstream_response(headers: Headers, request_id: str) -> list[tuple[str, str]]:
    """The upstream's response headers as the caller sees them."""
    out = _kept(headers, _RESPONSE_DROP)
    out.append((REQUEST_ID, request_id))
    out.append(SERVER)
    return out
