"""The request body, read once and checked before any handler sees it (pure ASGI).

- At most `max_body_bytes`: a larger Content-Length is refused (413) before a byte of
  the body is read, and a chunked body is refused as soon as it passes the limit.
- Within `body_timeout` seconds of the headers (408): a client that announces a body
  and then trickles or stops cannot hold the request open.
- JSON, strictly: a key twice in one object (`{"tokens": 1, "tokens": 9999999}` — JSON
  parsers disagree on which wins), nesting deeper than `MAX_DEPTH`, or anything that does
  not parse is refused with 400 before a handler runs, so no body can reach a parser that
  would fail with a 500.

Refusals say what is wrong and how to fix it, and never repeat the body: at most a key
name that looks like a field name. Every refusal that leaves part of a body unread
closes the connection, so the rest is never taken for the next request.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson

from tawa.refusal import Refusal

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# The wallet's deepest body is a batch: {"items": [{...: value}]}. Far below any parser's own limit.
MAX_DEPTH = 32
JSON_METHODS = {"POST", "PUT", "PATCH"}
PARSED = "json"  # scope["state"][PARSED]: the parsed body, for handlers that read it themselves
_FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


def shown_name(name: object) -> str | None:
    """`name` if it looks like a field name (safe to repeat in an answer), else None."""
    return name if isinstance(name, str) and _FIELD_NAME.fullmatch(name) else None


class _DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__("duplicate key")
        self.key = key


def _object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return obj


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # NaN, Infinity: Python's json would take them


def _too_deep(value: Any) -> bool:
    level = [value]
    for _ in range(MAX_DEPTH):
        level = [child for v in level
                 for child in (v.values() if isinstance(v, dict) else v if isinstance(v, list) else ())]
        if not level:
            return False
    return True


def parse_json(raw: bytes) -> Any:
    """The body as JSON, or a 400 Refusal. Integers keep every digit (an amount too large is
    refused later, naming its field, not here as bad JSON)."""
    try:
        value = json.loads(raw, object_pairs_hook=_object_without_duplicates, parse_constant=_no_constant)
    except _DuplicateKey as dup:
        name = shown_name(dup.key)
        where = f"the key {name!r}" if name else "a key"
        raise Refusal(400, "DUPLICATE_KEY", f"body: {where} appears twice in one JSON object; send each field "
                        "once", name or "body") from None
    except (ValueError, RecursionError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise Refusal(400, "INVALID_JSON", "body: the request body is not valid JSON; send a JSON object",
                        "body") from None
    if _too_deep(value):
        raise Refusal(400, "INVALID_JSON", f"body: JSON nested more than {MAX_DEPTH} levels deep; no wallet "
                        "request needs more than 3", "body")
    return value


class _TooLarge(Exception):
    pass


class BodyGuard:
    """Reads, bounds and checks the body, then hands the app the same bytes (and the parsed JSON)."""

    def __init__(self, app: ASGIApp, max_body_bytes: int, body_timeout: float) -> None:
        self.app, self.max_body_bytes, self.body_timeout = app, max_body_bytes, body_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            body = await self._read(scope, receive)
            if body and scope["method"] in JSON_METHODS:
                scope.setdefault("state", {})[PARSED] = parse_json(body)
        except Refusal as refusal:
            await respond(send, refusal, close=refusal.status in (408, 413))
            return
        await self.app(scope, _replay(body, receive), send)

    async def _read(self, scope: Scope, receive: Receive) -> bytes:
        announced = _content_length(scope)
        if announced is not None and announced > self.max_body_bytes:
            raise self._too_large()
        chunks: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout(self.body_timeout):
                while True:
                    message = await receive()
                    if message["type"] != "http.request":  # the client went away
                        break
                    chunk = message.get("body", b"")
                    size += len(chunk)
                    if size > self.max_body_bytes:
                        raise _TooLarge
                    chunks.append(chunk)
                    if not message.get("more_body", False):
                        break
        except TimeoutError:
            raise Refusal(408, "BODY_TIMEOUT", f"body: not received within {self.body_timeout:g} seconds of the "
                            "headers; send the whole body at once", "body") from None
        except _TooLarge:
            raise self._too_large() from None
        return b"".join(chunks)

    def _too_large(self) -> Refusal:
        return Refusal(413, "BODY_TOO_LARGE", f"body: larger than {self.max_body_bytes} bytes; send fewer "
                         "batch items per call", "body", limit=self.max_body_bytes)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:  # the HTTP parser refuses these first; count the bytes then
                return None
    return None


def has_body(scope: Scope) -> bool:
    """The request announces a body (which a refusal sent before reading it leaves on the wire)."""
    length = _content_length(scope)
    return bool(length) or any(name == b"transfer-encoding" for name, _ in scope["headers"])


def _replay(body: bytes, receive: Receive) -> Receive:
    """The body already read, once; then the server's own messages (a later disconnect)."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def replay() -> Message:
        return pending.pop() if pending else await receive()

    return replay


async def respond(send: Send, refusal: Refusal, close: bool = False) -> None:
    """A refusal as a JSON answer; `close` when the rest of the body may still be on the wire."""
    payload = orjson.dumps(refusal.body())
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": refusal.status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
