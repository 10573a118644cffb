"""Serving the wallet app with uvicorn, with the deadlines uvicorn does not have.

uvicorn waits for a request's headers as long as the client likes: a socket that sends
a request line and one header, then nothing (or one byte every few seconds), holds a
connection for good. `HeaderDeadline` closes it: the request line and headers must be
complete within `header_timeout` seconds of the connection (or of the first byte of the
next request on a kept-alive one), however slowly they trickle, and may not exceed
`MAX_HEADER_BYTES`. The body has its own deadline and size limit (`tawa.wallet.body`).
Errors the HTTP parser finds are answered in JSON, and no `Server` header names the stack.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from tawa.wallet.settings import ServerSettings

MAX_HEADER_BYTES = 64 * 1024  # request line + headers; far above any real client's
KEEP_ALIVE_SECONDS = 5  # an idle kept-alive connection is closed after this (uvicorn's default)


def _answer(status: int, reason: str, code: str, message: str) -> bytes:
    """A complete HTTP/1.1 answer that closes the connection, for refusals before any handler runs."""
    body = orjson.dumps({"error": code, "message": message})
    head = (f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n"
            "connection: close\r\n\r\n")
    return head.encode() + body


class HeaderDeadline(HttpToolsProtocol):
    """uvicorn's httptools protocol, plus a deadline and a size limit on each request's head."""

    header_timeout = 10.0  # set per server by `protocol_class`

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_deadline: asyncio.TimerHandle | None = None
        self._head_bytes = 0  # read while this request's head is incomplete
        self._began = False  # a request began in the data just parsed

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()  # a connection that never sends a byte is closed too

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self._began = False
        super().data_received(data)
        if self._head_deadline is None:  # no head being read (or the connection was refused)
            return
        # A read in which a request began may hold the end of the previous one: not counted,
        # so the limit is MAX_HEADER_BYTES plus at most one read (256 KiB), never unbounded.
        self._head_bytes += 0 if self._began else len(data)
        if self._head_bytes > MAX_HEADER_BYTES:
            self._refuse(_answer(431, "Request Header Fields Too Large", "HEADERS_TOO_LARGE",
                                 f"the request line and headers exceed {MAX_HEADER_BYTES} bytes"))

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_bytes, self._began = 0, True
        self._arm()  # the next request on a kept-alive connection: its own deadline

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def send_400_response(self, msg: str) -> None:
        # uvicorn's own answer is text/plain; the wallet answers every error in JSON.
        self._refuse(_answer(400, "Bad Request", "BAD_REQUEST", "the request is not valid HTTP/1.1"))

    def _arm(self) -> None:
        if self._head_deadline is None:
            self._head_deadline = self.loop.call_later(self.header_timeout, self._head_too_slow)

    def _disarm(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_too_slow(self) -> None:
        self._head_deadline = None
        self._refuse(_answer(408, "Request Timeout", "HEADERS_TIMEOUT",
                             f"the request line and headers did not arrive within {self.header_timeout:g} "
                             "seconds"))

    def _refuse(self, answer: bytes) -> None:
        self._disarm()
        if self.transport.is_closing():
            return
        if self.cycle is None or self.cycle.response_complete:  # never in the middle of another answer
            self.transport.write(answer)
        self.transport.close()


def protocol_class(settings: ServerSettings) -> type[HeaderDeadline]:
    return type("WalletHttpProtocol", (HeaderDeadline,), {"header_timeout": settings.header_timeout})


def _config(app: Any, settings: ServerSettings, host: str, port: int, log_level: str,
            **extra: Any) -> uvicorn.Config:
    # log_config=None: uvicorn's own loggers reach the root logger's JSON handler.
    return uvicorn.Config(app, host=host, port=port, log_level=log_level, access_log=False, log_config=None,
                          http=protocol_class(settings), server_header=False,
                          timeout_keep_alive=KEEP_ALIVE_SECONDS, **extra)


def run(app: Any, settings: ServerSettings, host: str, port: int, log_level: str,
        metrics_port: int | None = None) -> None:
    """uvicorn on `host:port` with the wallet's deadlines, until SIGTERM/SIGINT; with `metrics_port`,
    /metrics without a token on that port too (`tawa.wallet.metrics_server`), with the same deadlines."""
    api = _config(app, settings, host, port, log_level)
    if metrics_port is None:
        uvicorn.Server(api).run()
        return
    from tawa.wallet.metrics_server import metrics_app, run_beside

    registry = app.state.metrics.registry
    run_beside(api, _config(metrics_app(registry), settings, host, metrics_port, log_level, lifespan="off"))
