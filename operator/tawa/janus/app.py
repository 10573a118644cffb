"""The Janus HTTP server: `ANY /proxy/{service}/{rest}`, `/healthz`, `/metrics`.

Built on aiohttp's low-level server (no router, no middlewares: the proxy has
three paths and every microsecond on the hot path counts) and aiohttp's client
(keep-alive pools to upstreams, bodies streamed both ways).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Mapping, Sequence
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from yarl import URL

from tawa.gas.pricing import Price, PricedRoute, price_request
from tawa.janus import headers as hdr
from tawa.janus.billing import Payer, choose_payer, needs_grants
from tawa.janus.holds import Reservation
from tawa.janus.identity import SLUG, Identity
from tawa.janus.metering import Meter
from tawa.janus.metrics import Metrics
from tawa.janus.model import Caller, Refusal, Service
from tawa.janus.registry import Registry

log = logging.getLogger("tawa.janus")

PROXY_PREFIX = "/proxy/"
BUFFER_LIMIT = 256 * 1024  # responses up to this size are read whole: one write, and charged before sent
JSON_TYPE = "application/json"
UNKNOWN = "(unknown)"
PRICE_CACHE_SIZE = 10_000
NO_AUTO_HEADERS = ("User-Agent", "Accept", "Accept-Encoding", "Content-Type")


def json_response(status: int, body: Mapping[str, Any], request_id: str | None = None) -> web.Response:
    response = web.Response(status=status, body=json.dumps(body).encode(), content_type=JSON_TYPE)
    if request_id:
        response.headers[hdr.REQUEST_ID] = request_id
    return response


def refusal_response(refusal: Refusal, request_id: str | None = None) -> web.Response:
    body = refusal.body()
    if request_id:
        body["requestId"] = request_id
    return json_response(refusal.status, body, request_id)


def split_proxy_path(path: str) -> tuple[str, str]:
    """`/proxy/docman/documents/7` → ("docman", "/documents/7"); works on raw or decoded paths."""
    service, _, rest = path[len(PROXY_PREFIX):].partition("/")
    return service, "/" + rest


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
        access_log: bool = False,
    ) -> None:
        self.registry, self.identity, self.meter, self.metrics = registry, identity, meter, metrics
        self.platform_prices = platform_prices
        self.access_log = access_log
        self._timeout = aiohttp.ClientTimeout(total=None, connect=connect_timeout, sock_read=upstream_timeout)
        self._pool_size = pool_size
        self._session: aiohttp.ClientSession | None = None
        self._prices: dict[tuple[str, str, str], tuple[Service, Price]] = {}

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
        path = request.path
        if path.startswith(PROXY_PREFIX):
            return await self.proxy(request)
        if path == "/healthz":
            return json_response(200, {"status": "ok", "wallet": "down" if self.meter.wallet_down() else "up",
                                       "pid": os.getpid()})
        if path == "/metrics":
            return web.Response(body=self.metrics.exposition(), content_type="text/plain", charset="utf-8")
        return json_response(404, {"error": "NOT_FOUND", "message": f"Janus serves /proxy/{{service}}/..., "
                                   f"/healthz and /metrics, not {path}; call a service as /proxy/NAME/PATH."})

    async def proxy(self, request: web.BaseRequest) -> web.StreamResponse:
        request_id = os.urandom(12).hex()
        started = time.perf_counter()
        name = "-"
        status = 500
        try:
            name, rest = split_proxy_path(request.path)
            response = await self._proxy(request, request_id, name, rest)
            status = response.status
            return response
        except Refusal as refusal:
            status = refusal.status
            if refusal.status == 400 or refusal.error == "UNKNOWN_SERVICE":
                name = UNKNOWN  # a metrics label: callers must not be able to invent label values
            if refusal.status == 402:
                self.metrics.insufficient.labels(name).inc()
            log.info("refused", extra={"requestId": request_id, "service": name, "method": request.method,
                                       "status": refusal.status, "error": refusal.error})
            return refusal_response(refusal, request_id)
        finally:
            self.metrics.request(name, status)
            if self.access_log:
                log.info("request", extra={"requestId": request_id, "service": name, "method": request.method,
                                           "path": request.rel_url.raw_path, "status": status,
                                           "ms": round((time.perf_counter() - started) * 1000, 3)})

    # ----- the steps

    async def _proxy(self, request: web.BaseRequest, request_id: str, name: str, rest: str) -> web.StreamResponse:
        headers = list(request.headers.items())
        problem = hdr.check_request(headers)
        if problem is not None:
            raise Refusal(400, problem.error, problem.message)
        # Only a DNS label can name a Component: anything else is not worth a lookup.
        service = await self.registry.lookup(name) if SLUG.match(name) else None
        if service is None:
            raise Refusal(404, "UNKNOWN_SERVICE", f"No service named {name!r} is registered with Janus; check "
                          "the name in the URL (/proxy/NAME/...) or deploy the Component.", service=name)
        price = self._price(service, rest, request.method)
        caller = await self._caller(request, price)
        payer, reservation = await self._payment(headers, caller, price, service)
        caller_org = payer.org if payer else (caller.program_id or caller.service_id) if caller else None
        out = hdr.upstream_request(headers, request_id=request_id, caller_org=caller_org,
                                   client_ip=request.remote, drop_authorization=caller is not None)
        return await self._forward(request, request_id, service, price, out, reservation)

    def _price(self, service: Service, path: str, method: str) -> Price:
        """The price cascade, memoised per (service, method, path): most calls repeat."""
        key = (service.name, method, path)
        hit = self._prices.get(key)
        if hit is not None and hit[0] is service:  # a re-read registry entry is a new object
            return hit[1]
        price = price_request(service.routes, path, method, self.platform_prices.get(service.name, ()))
        if len(self._prices) >= PRICE_CACHE_SIZE:
            self._prices.clear()
        self._prices[key] = (service, price)
        return price

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

    async def _forward(self, request: web.BaseRequest, request_id: str, service: Service, price: Price,
                       out: list[tuple[str, str]], reservation: Reservation | None) -> web.StreamResponse:
        assert self._session is not None
        # The caller's raw path and query go on byte for byte (no re-encoding).
        query = request.rel_url.raw_query_string
        url = URL(service.upstream + split_proxy_path(request.rel_url.raw_path)[1] + ("?" + query if query else ""),
                  encoded=True)
        if request.body_exists:
            length = request.headers.get("Content-Length")
            if length is not None:
                out.append(("Content-Length", length))  # keep the caller's framing, no re-chunking
            if request.headers.get("Expect", "").lower() == "100-continue":
                # Only now, with the call authorised and paid for, invite the body.
                await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            data: Any = request.content
        else:
            data = None
        started = time.perf_counter()
        charged = False
        try:
            async with self._session.request(request.method, url, headers=out, data=data, allow_redirects=False,
                                             compress=None, chunked=None) as upstream:
                self.metrics.latency(service.name, time.perf_counter() - started)
                response, charged = await self._relay(request, request_id, upstream, service, price, reservation)
                return response
        except TimeoutError:
            raise Refusal(504, "UPSTREAM_TIMEOUT", f"Service {service.name!r} did not answer in time; the call "
                          "was not charged — retry, or ask its owner to look at its latency.",
                          service=service.name) from None
        except aiohttp.ClientError as exc:
            log.warning("upstream failed", extra={"requestId": request_id, "service": service.name,
                                                  "error": repr(exc)})
            raise Refusal(502, "UPSTREAM_UNAVAILABLE", f"Service {service.name!r} could not be reached ("
                          f"{type(exc).__name__}); the call was not charged — retry, or check that the "
                          "service is running.", service=service.name) from None
        finally:
            if reservation is not None and not charged:
                self.meter.cancel(reservation)

    async def _relay(self, request: web.BaseRequest, request_id: str, upstream: aiohttp.ClientResponse,
                     service: Service, price: Price, reservation: Reservation | None
                     ) -> tuple[web.StreamResponse, bool]:
        """Send the upstream's answer on; charge it when it is a complete 2xx."""
        ok = 200 <= upstream.status < 300
        out = hdr.downstream_response(list(upstream.headers.items()), request_id)
        length = upstream.content_length
        if request.method != "HEAD" and length is not None and length <= BUFFER_LIMIT:
            body = await upstream.read()
            charged = ok and await self._charge(request, request_id, service, price, reservation)
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
        charged = ok and await self._charge(request, request_id, service, price, reservation)
        await response.write_eof()
        return response, charged

    async def _charge(self, request: web.BaseRequest, request_id: str, service: Service, price: Price,
                      reservation: Reservation | None) -> bool:
        if reservation is None:
            return False
        # The matched route, or for unpriced paths the path itself (bounded: the wallet keeps it).
        route = price.route.path if price.route else split_proxy_path(request.path)[1][:256]
        await self.meter.charge(reservation, provider=service.provider_wallet, service=service.name,
                                route=route, method=request.method, request_id=request_id)
        return True


class JsonErrorsHandler(RequestHandler):
    """aiohttp's parser refuses malformed requests (e.g. Content-Length with
    Transfer-Encoding) before Janus sees them; answer those in JSON too."""

    def handle_error(self, request: Any, status: int = 500, exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        if status >= 500:
            log.error("internal error", exc_info=exc)
            body = {"error": "INTERNAL_ERROR", "message": "Janus failed to handle the request; retry, and "
                    "report it with the time of the call if it persists."}
        else:
            text = str(getattr(exc, "message", "") or message or "malformed request").strip().splitlines()[0]
            error = "AMBIGUOUS_LENGTH" if "Content-Length" in text or "Transfer-Encoding" in text else "BAD_REQUEST"
            body = {"error": error, "message": f"The request is malformed ({text.rstrip(':')}); fix its "
                    "framing and headers and resend it."}
        response = json_response(status, body)
        response.force_close()
        return response


class JanusServer(web.Server):
    def __call__(self) -> RequestHandler:
        return JsonErrorsHandler(self, loop=self._loop, **self._kwargs)
