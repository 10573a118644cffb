"""The one canonical form of a Janus request target (pure: no HTTP framework).

Price, auth and forwarding must all see the same path, or a caller can be
priced for one route while the upstream serves another (`/d/../documents`
priced as the free `/d`, served as `/documents`). So the target is made
canonical once, as Envoy's `normalize_path` does, and everything uses that:

- percent-escapes of unreserved characters (RFC 3986 §2.3) are decoded, every
  other escape is kept with upper-case hex (§6.2.2.1);
- dot segments are resolved (§5.2.4); empty segments are kept, as §5.2.4 does;
- what cannot be made canonical safely is refused, because upstreams disagree
  about it: an encoded `/` or `\\`, an encoded dot segment (`%2e%2e`), `;`
  parameters, NUL, a backslash, a fragment, a character RFC 3986 does not
  allow in a path, and any `..` that would climb above `/proxy/{service}/`.

The refusal message says what to fix and never repeats the request's bytes.
The query string is passed on exactly as sent.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass

from tawa.gas.pricing import Price

PROXY_PREFIX = "/proxy/"
NON_CANONICAL = "NON_CANONICAL_PATH"

UNRESERVED = frozenset(string.ascii_letters + string.digits + "-._~")
# A path's characters (RFC 3986 pchar, plus "/"), without ";": path parameters are refused.
PATH_CHARS = UNRESERVED | frozenset("!$&'()*+,=:@/%")
DOT_SEGMENTS = (".", "..")
_ESCAPE = re.compile(r"%(.?.?)")
_HEX = frozenset(string.hexdigits)


@dataclass(frozen=True)
class ProxyTarget:
    """`/proxy/{service}{path}?{query}`, canonical: what is priced is what is forwarded."""

    service: str
    path: str  # canonical, starts with "/"
    query: str  # exactly as sent, without the "?"

    @property
    def upstream_target(self) -> str:
        """The path and query the upstream receives."""
        return self.path + ("?" + self.query if self.query else "")


@dataclass(frozen=True)
class NonCanonical:
    """Why a target was refused (400), in words that name the fix."""

    message: str
    error: str = NON_CANONICAL


class _Refused(Exception):
    pass


def proxy_target(raw: str) -> ProxyTarget | NonCanonical:
    """The canonical form of a raw request target that starts with /proxy/, or why there is none."""
    path, _, query = raw.partition("?")
    try:
        if not path.startswith(PROXY_PREFIX):
            raise _Refused(f"A proxied call's target starts with {PROXY_PREFIX}NAME/; send /proxy/NAME/PATH.")
        if "#" in raw:
            raise _Refused("A request target has no fragment (#); drop it, or send it as %23 if it is data.")
        _check_characters(path)
        service, *rest = (_decoded_segment(s) for s in path[len(PROXY_PREFIX):].split("/"))
        if service in DOT_SEGMENTS:
            raise _Refused("The service segment of /proxy/NAME/PATH cannot be '.' or '..'; name the service.")
        return ProxyTarget(service, _resolved(rest), query)
    except _Refused as refused:
        return NonCanonical(str(refused))


def _check_characters(path: str) -> None:
    if "\\" in path:
        raise _Refused("A backslash is not a path separator; use '/' between segments.")
    if ";" in path:
        raise _Refused("Path parameters (';') are not accepted; send them in the query string.")
    if "\x00" in path:
        raise _Refused("A NUL byte cannot be part of a path; remove it.")
    if not PATH_CHARS.issuperset(path):
        raise _Refused("The path has characters RFC 3986 does not allow (spaces, non-ASCII, quotes, ...); "
                       "percent-encode them as UTF-8.")


def _decoded_segment(raw: str) -> str:
    """One segment with unreserved escapes decoded and the others kept in upper case."""
    if "%" not in raw:
        return raw
    segment = _ESCAPE.sub(_decode_escape, raw)
    if segment in DOT_SEGMENTS:
        raise _Refused("A dot segment must not be percent-encoded (%2e); write '.' or '..' plainly, "
                       "or leave it out.")
    return segment


def _decode_escape(match: re.Match[str]) -> str:
    digits = match.group(1)
    if len(digits) != 2 or not _HEX.issuperset(digits):
        raise _Refused("A '%' in a path must start an escape of two hex digits; send a literal '%' as %25.")
    char = chr(int(digits, 16))
    if char in "/\\":
        raise _Refused("An encoded '/' or '\\' (%2F, %5C) is not accepted: upstreams disagree on whether "
                       "it separates segments; use '/' between segments, or move the value to the query.")
    if char == "\x00":
        raise _Refused("A NUL byte (%00) cannot be part of a path; remove it.")
    return char if char in UNRESERVED else "%" + digits.upper()


def _resolved(segments: list[str]) -> str:
    """RFC 3986 §5.2.4 on the path below /proxy/{service}, refusing a '..' that would leave it."""
    out: list[str] = []
    last = len(segments) - 1
    for i, segment in enumerate(segments):
        if segment == "..":
            if not out:
                raise _Refused("The path climbs above /proxy/NAME/ with '..'; send the path you mean "
                               "without dot segments.")
            out.pop()
        elif segment != ".":
            out.append(segment)
            continue
        if i == last:
            out.append("")  # "/a/b/.." is "/a/": a final dot segment leaves a trailing slash
    return "/" + "/".join(out)


def case_problem(exact: Price, folded: Price) -> NonCanonical | None:
    """Route paths match case-sensitively. A path whose price would change if they did not
    (`/Documents` against a route `/documents`) is refused: an upstream that routes
    case-insensitively, as Express does by default, would serve the other route."""
    if folded == exact:
        return None
    route = f" {folded.route.path}" if folded.route else ""
    return NonCanonical(f"Route paths are case-sensitive, and this path matches the route{route} only when "
                        "letter case is ignored; send the route's exact spelling.")
