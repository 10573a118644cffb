"""The Janus HTTP server: `ANY /proxy/{service}/{rest}`, `/healthz`, `/metrics`.

Built on aiohttp's low-level server (no router, no middlewares: the proxy has
three paths and every microsecond on the hot path counts) and aiohttp's client
(keep-alive pools to upstreams, bodies streamed both ways).

A proxied call's target is made canonical first (`tawa.janus.target`): the
price, the auth rule and the upstream's URL all come from that one path.
Nothing Janus answers repeats the request's path or header bytes.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.http_exceptions import BadStatusLine, InvalidHeader, InvalidURLError, LineTooLong, PayloadEncodingError
from aiohttp.web_protocol import RequestHandler
from yarl import URL

from tawa import names
from tawa.cache import LruCache
from tawa.gas.pricing import Price, PricedRoute, price_request
from tawa.janus import headers as hdr
from tawa.janus.billing import Payer, choose_payer, needs_grants
from tawa.janus.holds import Reservation
from tawa.janus.identity import Identity
from tawa.janus.metering import Meter
from tawa.janus.metrics import Metrics
from tawa.janus.model import Caller, Service
from tawa.janus.registry import Registry
from tawa.janus.target import PROXY_PREFIX, ProxyTarget, case_problem, proxy_target
from tawa.refusal import Refusal

log = logging.getLogger("tawa.janus")

BUFFER_LIMIT = 256 * 1024  # responses up to this size are read whole: one write, and charged before sent
JSON_TYPE = "application/json"
UNKNOWN = "(unknown)"
PRICE_CACHE_SIZE = 10_000
NO_AUTO_HEADERS = ("User-Agent", "Accept", "Accept-Encoding", "Content-Type")


def json_response(status: int, body: Mapping[str, Any], request_id: str | None = None) -> web.Response:
    response = web.Response(status=status, body=json.dumps(body).encode(), content_type=JSON_TYPE,
                            headers=dict([hdr.SERVER]))
    if request_id:
        response.headers[hdr.REQUEST_ID] = request_id
    return response


def refusal_response(refusal: Refusal, request_id: str | None = None) -> web.Response:
    body = refusal.body()
    if request_id:
        body["requestId"] = request_id
    return json_response(refusal.status, body, request_id)


class StallGuardedBody:
    """A caller's request body, read with a deadline between two reads: a body that
    stalls would otherwise hold the caller's and the upstream's connections open."""

    def __init__(self, content: aiohttp.StreamReader, timeout: float) -> None:
        self.content, self.timeout = content, timeout
        self.stalled = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while True:
            try:
                async with asyncio.timeout(self.timeout):
                    chunk = await self.content.readany()
            except TimeoutError:
                self.stalled = True
                raise
            if not chunk:
                return
            yield chunk


class Janus:
    """One worker's request handling; `start`/`stop` own the client pool and the meter's tasks."""

    def __init__(
        self,
        *,
        registry: Registry,
        identity: Identity,
        meter: Meter,
        metrics: Metrics,
        platform_prices: Mapping[str, Sequence[PricedRoute]],
        upstream_timeout: float,
        connect_timeout: float,
        pool_size: int,
        body_timeout: float = 30.0,
        access_log: bool = False,
    ) -> None:
        self.registry, self.identity, self.meter, self.metrics = registry, identity, meter, metrics
        self.platform_prices = platform_prices
        self.body_timeout = body_timeout
        self.access_log = access_log
        self._timeout = aiohttp.ClientTimeout(total=None, connect=connect_timeout, sock_read=upstream_timeout)
        self._pool_size = pool_size
        self._session: aiohttp.ClientSession | None = None
        self._prices: LruCache[tuple[str, str, str], tuple[Service, Price | Refusal]] = LruCache(PRICE_CACHE_SIZE)

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(limit=self._pool_size, limit_per_host=0, keepalive_timeout=30,
                                         ttl_dns_cache=60)
        self._session = aiohttp.ClientSession(connector=connector, auto_decompress=False, timeout=self._timeout,
                                              skip_auto_headers=NO_AUTO_HEADERS, cookie_jar=aiohttp.DummyCookieJar())
        await self.meter.start()

    async def stop(self) -> None:
        await self.meter.stop()
        if self._session is not None:
            await self._session.close()

    # ----- entry

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        if request.raw_path.startswith(PROXY_PREFIX):  # the target as sent: nothing decoded yet
            return await self.proxy(request)
        path = request.rel_url.raw_path
        if path == "/healthz":
            return json_response(200, {"status": "ok", "wallet": "down" if self.meter.wallet_down() else "up"})
        if path == "/metrics":
            return web.Response(body=self.metrics.exposition(), content_type="text/plain", charset="utf-8",
                                headers=dict([hdr.SERVER]))
        return json_response(404, {"error": "NOT_FOUND", "message": "Janus serves /proxy/{service}/..., "
                                   "/healthz and /metrics; call a service as /proxy/NAME/PATH."})

    async def proxy(self, request: web.BaseRequest) -> web.StreamResponse:
        request_id = os.urandom(12).hex()
        started = time.perf_counter()
        name = "-"
        status = 500
        try:
            target = proxy_target(request.raw_path)
            if not isinstance(target, ProxyTarget):
                raise Refusal(400, target.error, target.message)
            name = target.service
            response = await self._proxy(request, request_id, target)
            status = response.status
            return response
        except Refusal as refusal:
            status = refusal.status
            if refusal.status == 400 or refusal.code == "UNKNOWN_SERVICE":
                name = UNKNOWN  # a metrics label: callers must not be able to invent label values
            if refusal.status == 402:
                self.metrics.insufficient.labels(name).inc()
            log.info("refused", extra={"requestId": request_id, "service": name, "method": request.method,
                                       "status": refusal.status, "error": refusal.code})
            response = refusal_response(refusal, request_id)
            if refusal.status == 408:
                await self._answer_and_close(request, response)
            return response
        finally:
            self.metrics.request(name, status)
            if self.access_log:
                log.info("request", extra={"requestId": request_id, "service": name, "method": request.method,
                                           "path": request.rel_url.raw_path, "status": status,
                                           "ms": round((time.perf_counter() - started) * 1000, 3)})

    @staticmethod
    async def _answer_and_close(request: web.BaseRequest, response: web.Response) -> None:
        """Send the answer now and close: the rest of a stalled body is not worth waiting for
        (aiohttp would otherwise linger, reading it, before closing)."""
        response.force_close()
        await response.prepare(request)
        await response.write_eof()
        if request.transport is not None:
            request.transport.close()

    # ----- the steps

    async def _proxy(self, request: web.BaseRequest, request_id: str, target: ProxyTarget) -> web.StreamResponse:
        headers = list(request.headers.items())
        problem = hdr.check_request(headers)
        if problem is not None:
            raise Refusal(400, problem.error, problem.message)
        name = target.service
        # Only a DNS label can name a Component: anything else is not worth a lookup (nor worth repeating).
        if not names.is_dns_label(name):
            raise Refusal(404, "UNKNOWN_SERVICE", "The service name in the URL (/proxy/NAME/...) is not a "
                          "Component name (a DNS label); check it.")
        service = await self.registry.lookup(name)
        if service is None:
            raise Refusal(404, "UNKNOWN_SERVICE", f"No service named {name!r} is registered with Janus; check "
                          "the name in the URL (/proxy/NAME/...) or deploy the Component.", service=name)
        price = self._price(service, target.path, request.method)
        caller = await self._caller(request, price)
        payer, reservation = await self._payment(headers, caller, price, service)
        caller_org = payer.org if payer else (caller.program_id or caller.service_id) if caller else None
        out = hdr.upstream_request(headers, request_id=request_id, caller_org=caller_org,
                                   client_ip=request.remote, drop_authorization=caller is not None)
        return await self._forward(request, request_id, service, target, price, out, reservation)

    def _price(self, service: Service, path: str, method: str) -> Price:
        """The price cascade, memoised per (service, method, path): most calls repeat."""
        key = (service.name, method, path)
        hit = self._prices.get(key)
        if hit is not None and hit[0] is service:  # a re-read registry entry is a new object
            found = hit[1]
        else:
            found = self._priced(service, path, method)
            self._prices.put(key, (service, found))
        if isinstance(found, Refusal):
            raise found
        return found

    def _priced(self, service: Service, path: str, method: str) -> Price | Refusal:
        platform = self.platform_prices.get(service.name, ())
        price = price_request(service.routes, path, method, platform)
        problem = case_problem(price, price_request(service.routes, path, method, platform, fold_case=True))
        return price if problem is None else Refusal(400, problem.error, problem.message)

    async def _caller(self, request: web.BaseRequest, price: Price) -> Caller | None:
        authorization = request.headers.get("Authorization")
        if price.auth == "public":
            if authorization is None:
                return None
            try:
                return await self.identity.identify(authorization)
            except Refusal:
                if price.gas:  # somebody must pay, and this token proves nobody
                    raise
                return None  # a public, free route: the header may be meant for the upstream
        caller = await self.identity.identify(authorization)
        if caller is None:
            raise Refusal(401, "TOKEN_REQUIRED", "This route needs a service identity; send "
                          "'Authorization: Bearer <service token>' with audience 'janus'.")
        return caller

    async def _payment(self, headers: hdr.Headers, caller: Caller | None, price: Price,
                       service: Service) -> tuple[Payer | None, Reservation | None]:
        if price.gas == 0:
            return None, None  # free routes never touch the wallet
        bill_org = hdr.bill_org(headers)
        grants = await self.meter.grants(bill_org) if bill_org and needs_grants(caller, bill_org) else None
        payer = choose_payer(caller, bill_org, grants)
        if isinstance(payer, Refusal):
            raise payer
        return payer, await self.meter.authorize(payer, price.gas, service.name)

    async def _forward(self, request: web.BaseRequest, request_id: str, service: Service, target: ProxyTarget,
                       price: Price, out: list[tuple[str, str]], reservation: Reservation | None
                       ) -> web.StreamResponse:
        assert self._session is not None
        # The canonical path (the one priced) and the query exactly as sent; nothing re-encoded.
        url = URL(service.upstream + target.upstream_target, encoded=True)
        body: StallGuardedBody | None = None
        if request.body_exists:
            length = request.headers.get("Content-Length")
            if length is not None:
                out.append(("Content-Length", length))  # keep the caller's framing, no re-chunking
            if request.headers.get("Expect", "").lower() == "100-continue":
                # Only now, with the call authorised and paid for, invite the body.
                await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            body = StallGuardedBody(request.content, self.body_timeout)
        started = time.perf_counter()
        charged = False
        try:
            async with self._session.request(request.method, url, headers=out, data=body, allow_redirects=False,
                                             compress=None, chunked=None) as upstream:
                self.metrics.latency(service.name, time.perf_counter() - started)
                response, charged = await self._relay(request, request_id, upstream, service, target, price,
                                                      reservation)
                return response
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise self._upstream_failure(request_id, service, body, exc) from None
        finally:
            if reservation is not None and not charged:
                self.meter.cancel(reservation)

    @staticmethod
    def _upstream_failure(request_id: str, service: Service, body: StallGuardedBody | None,
                          exc: Exception) -> Refusal:
        if body is not None and body.stalled:  # the caller's fault, not the upstream's
            return Refusal(408, "BODY_TIMEOUT", "The request body stopped arriving before it was complete; "
                           "the call was not charged — send the whole body without pausing.")
        if isinstance(exc, TimeoutError):
            return Refusal(504, "UPSTREAM_TIMEOUT", f"Service {service.name!r} did not answer in time; the call "
                          "was not charged — retry, or ask its owner to look at its latency.",
                          service=service.name)
        log.warning("upstream failed", extra={"requestId": request_id, "service": service.name,
                                              "error": repr(exc)})
        return Refusal(502, "UPSTREAM_UNAVAILABLE", f"Service {service.name!r} could not be reached ("
                       f"{type(exc).__name__}); the call was not charged — retry, or check that the "
                       "service is running.", service=service.name)

    async def _relay(self, request: web.BaseRequest, request_id: str, upstream: aiohttp.ClientResponse,
                     service: Service, target: ProxyTarget, price: Price, reservation: Reservation | None
                     ) -> tuple[web.StreamResponse, bool]:
        """Send the upstream's answer on; charge it when it is a complete 2xx."""
        ok = 200 <= upstream.status < 300
        out = hdr.downstream_response(list(upstream.headers.items()), request_id)
        length = upstream.content_length
        if request.method != "HEAD" and length is not None and length <= BUFFER_LIMIT:
            body = await upstream.read()
            charged = ok and await self._charge(request, request_id, service, target, price, reservation)
            whole = web.Response(status=upstream.status, reason=upstream.reason, body=body)
            whole.headers.extend(out)
            return whole, charged
        response = web.StreamResponse(status=upstream.status, reason=upstream.reason)
        response.headers.extend(out)
        if length is not None:
            response.content_length = length
        await response.prepare(request)
        try:
            async for chunk in upstream.content.iter_any():
                await response.write(chunk)
        except (TimeoutError, aiohttp.ClientError, ConnectionError) as exc:
            # Headers are gone already: all that is left is to cut the connection so the
            # caller sees a truncated answer, not a complete-looking one. Never charged.
            log.warning("relay broke off", extra={"requestId": request_id, "service": service.name,
                                                  "error": repr(exc)})
            if request.transport is not None:
                request.transport.abort()
            return response, False
        charged = ok and await self._charge(request, request_id, service, target, price, reservation)
        await response.write_eof()
        return response, charged

    async def _charge(self, request: web.BaseRequest, request_id: str, service: Service, target: ProxyTarget,
                      price: Price, reservation: Reservation | None) -> bool:
        if reservation is None:
            return False
        # The matched route, or for unpriced paths the path itself (bounded: the wallet keeps it).
        route = price.route.path if price.route else target.path[:256]
        await self.meter.charge(reservation, provider=service.provider_wallet, service=service.name,
                                route=route, method=request.method, request_id=request_id)
        return True


# What a request aiohttp's parser refused was wrong with, by the parser's exception: the answer
# names the fix in fixed words, never the parser's text (which quotes the request's bytes).
MALFORMED = (
    (LineTooLong, "A request line or header is too long; shorten it."),
    (InvalidHeader, "A header name or value is malformed (a character RFC 9110 does not allow, a space "
                    "before the colon, a folded line); fix the headers."),
    (BadStatusLine, "The request line is malformed; send the method, /proxy/NAME/PATH and the "
                    "HTTP version, separated by single spaces."),
    (InvalidURLError, "The request target is malformed; percent-encode it as RFC 3986 says."),
)
FRAMING = "AMBIGUOUS_LENGTH"


def malformed_request(exc: BaseException | None, message: str | None) -> dict[str, str]:
    """The 400 body for a request the parser refused."""
    reason = str(getattr(exc, "message", "") or message or "")
    if "Content-Length" in reason or "Transfer-Encoding" in reason or isinstance(exc, PayloadEncodingError):
        return {"error": FRAMING, "message": "The request's framing is ambiguous or malformed; send exactly "
                "one valid Content-Length, or Transfer-Encoding: chunked alone, and a body that matches it."}
    fix = next((text for kind, text in MALFORMED if isinstance(exc, kind)),
               "The request is malformed; fix its framing and headers and resend it.")
    return {"error": "BAD_REQUEST", "message": fix}


def timeout_answer(seconds: float) -> bytes:
    """A whole 408 response, written on the socket directly: no request object exists yet."""
    body = json.dumps({"error": "HEADER_TIMEOUT", "message": f"The request's headers did not arrive within "
                       f"{seconds:g} s; send the whole request head at once."}).encode()
    return (b"HTTP/1.1 408 Request Timeout\r\nServer: janus\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body))


class JanusRequestHandler(RequestHandler):
    """One caller connection. Adds to aiohttp's handler:

    - requests its parser refuses (e.g. Content-Length with Transfer-Encoding) are
      answered in JSON, without repeating their bytes;
    - a header deadline: a request's head must arrive within `header_timeout` seconds,
      counted from the connection's opening or, on a kept-alive connection, from the
      next request's first byte. Otherwise the caller gets 408 (or, if it sent nothing
      at all, a plain close: a 408 could be read as the answer to a request sent just
      then) and the connection is closed.
    """

    def __init__(self, manager: web.Server, *, header_timeout: float, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._header_timeout = header_timeout
        self._header_timer: asyncio.TimerHandle | None = None
        self._head_bytes = False  # bytes of a request whose head is not complete yet
        self._body: Any = None  # the payload of the last request whose head arrived

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        heads = self._request_count
        super().data_received(data)
        if self._request_count != heads:  # a request's head is complete
            self._body = self._messages[-1][1] if self._messages else None
            self._disarm()
        elif self._body is None or self._body.is_eof():  # between requests: these bytes start a head
            self._head_bytes = True
            if self._header_timer is None:
                self._arm()

    def connection_lost(self, exc: BaseException | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._header_timer = self._loop.call_later(self._header_timeout, self._head_overdue)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
        self._header_timer, self._head_bytes = None, False

    def _head_overdue(self) -> None:
        self._header_timer = None
        if self._request_in_progress or self._messages:
            self.close()  # a pipelined head is late behind a request in progress: close after its answer
            return
        if self._head_bytes and self.transport is not None:
            self.transport.write(timeout_answer(self._header_timeout))
        self.force_close()  # closes the transport once the 408 is flushed

    def handle_error(self, request: Any, status: int = 500, exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        if status >= 500:
            log.error("internal error", exc_info=exc)
            body = {"error": "INTERNAL_ERROR", "message": "Janus failed to handle the request; retry, and "
                    "report it with the time of the call if it persists."}
        else:
            body = malformed_request(exc, message)
        response = json_response(status, body)
        response.force_close()
        return response


class JanusServer(web.Server):
    def __init__(self, handler: Any, *, header_timeout: float = 10.0, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self.header_timeout = header_timeout

    def __call__(self) -> RequestHandler:
        return JanusRequestHandler(self, loop=self._loop, header_timeout=self.header_timeout, **self._kwargs)
