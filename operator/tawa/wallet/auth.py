"""Who is calling and what THE policy table (`tawa.wallet.policy`) lets them do, plus request
metrics and request ids: one pure ASGI layer in front of the routes."""

from __future__ import annotations

import hmac
import time
import uuid
from collections.abc import MutableMapping
from typing import Any
from urllib.parse import parse_qsl, urlencode

from starlette.concurrency import run_in_threadpool

from tawa import logs
from tawa.wallet.accounts import ReviewUnavailable, ServiceAccounts
from tawa.wallet.body import ASGIApp, Receive, Scope, Send, has_body
from tawa.wallet.metrics import Metrics
from tawa.wallet.policy import ADMIN, Forbidden, Identity, Role, decide, rule_for
from tawa.wallet.settings import ServerSettings
from tawa.wallet.store import KEY_PREFIX, Store
from tawa.wallet.throttle import FailedAuthThrottle
from tawa.wallet.web import PUBLIC_PATHS, JSONResponse, error


def _request_id(headers: dict[bytes, bytes]) -> str:
    """The caller's X-Request-ID, or a new one: it names the request in the logs."""
    given = headers.get(b"x-request-id", b"").decode("latin-1")
    return given if 0 < len(given) <= 128 and given.isprintable() else uuid.uuid4().hex


def _unauthenticated(message: str) -> JSONResponse:
    resp = error(401, "UNAUTHENTICATED", message, "Authorization")
    resp.headers["WWW-Authenticate"] = "Bearer"
    return resp


def _org_filtered(query: bytes, org: str) -> bytes:
    """The query string with exactly one `org=` value: the org key's own."""
    pairs = [(k, v) for k, v in parse_qsl(query.decode("latin-1"), keep_blank_values=True) if k != "org"]
    return urlencode([*pairs, ("org", org)]).encode()


class AuthAndMetrics:
    """Who is calling (constant-time token checks, org keys by hash), what the policy table lets
    them do (`tawa.wallet.policy`), and request metrics, as one pure ASGI layer. Refusals are
    answered before a byte of the body is read, so nothing changes."""

    def __init__(self, app: ASGIApp, settings: ServerSettings, metrics: Metrics, store: Store) -> None:
        self.app, self.settings, self.metrics, self.store = app, settings, metrics, store
        self.throttle = FailedAuthThrottle(settings.auth_failure_limit, settings.auth_failure_window)
        self.programs = [(token.encode(), Identity(role)) for token, role in (
            (settings.token, Role.ADMIN), (settings.operator_token, Role.OPERATOR),
            (settings.janus_token, Role.JANUS)) if token]
        self.accounts = ServiceAccounts.from_cluster(settings.service_accounts) if settings.service_accounts else None

    async def identify(self, given: bytes) -> Identity | None:
        found = None
        for token, identity in self.programs:  # every one compared: the time says nothing about which
            if hmac.compare_digest(given, token):
                found = identity
        if found is None and given.startswith(KEY_PREFIX.encode()):
            found = await run_in_threadpool(self.store.identity_for_key, given.decode("latin-1"))
        elif found is None and self.accounts is not None:  # a projected service-account token?
            found = await self.accounts.identify(given.decode("latin-1"))
        return found

    async def refusal(self, scope: Scope, headers: dict[bytes, bytes]) -> JSONResponse | None:
        """None when the request may go on (scope["state"]["identity"] says who it is)."""
        path, method = scope["path"], scope["method"]
        if path in PUBLIC_PATHS:
            return None
        if self.settings.insecure_no_auth and not self.settings.token:
            scope.setdefault("state", {})["identity"] = ADMIN
            return None
        header = headers.get(b"authorization", b"")
        scheme, _, given = header.partition(b" ")
        bearer = bool(header) and scheme.lower() == b"bearer"
        found = rule_for(method, path)
        if not bearer and self.settings.open_reads and found is not None and found[0].open_read:
            return None  # TAWA_WALLET_OPEN_READS: reads of balances and gas without a credential
        identity = await self.authenticate(scope, given.strip() if bearer else None)
        if isinstance(identity, JSONResponse):
            return identity
        return self.authorize(scope, identity)

    async def authenticate(self, scope: Scope, given: bytes | None) -> Identity | JSONResponse:
        """The caller's identity from its bearer credential (`given`), or the refusal; failures are throttled."""
        source = (scope.get("client") or ("unknown",))[0]
        if (wait := self.throttle.retry_after(source)) is not None:
            resp = error(429, "TOO_MANY_FAILED_AUTHENTICATIONS", f"Authorization: too many failed authentications "
                         f"from {source}; retry after {wait} seconds with a valid credential", "Authorization")
            resp.headers["Retry-After"] = str(wait)
            return resp
        if given is None:
            self.throttle.failed(source)
            return _unauthenticated("Authorization: send 'Authorization: Bearer <token>': your TAWA_WALLET_TOKEN "
                                    "(a program's token or an org key)")
        try:
            identity = await self.identify(given)
        except ReviewUnavailable:
            return error(503, "IDENTITY_UNAVAILABLE", "Authorization: the wallet could not ask the Kubernetes API "
                         "server whose service-account token this is; retry shortly", "Authorization")
        if identity is None:
            self.throttle.failed(source)
            return _unauthenticated("Authorization: the bearer token is no credential of this wallet (unknown or "
                                    "revoked); check the token you were given")
        return identity

    def authorize(self, scope: Scope, identity: Identity) -> JSONResponse | None:
        """What THE policy table says `identity` may do here: None (go on) or the 403."""
        orgs = [v for k, v in parse_qsl(scope.get("query_string", b"").decode("latin-1")) if k == "org"]
        decision = decide(identity, scope["method"], scope["path"], orgs)
        if isinstance(decision, Forbidden):
            return error(403, "FORBIDDEN", decision.message, "Authorization")
        if decision.org_filter is not None:
            scope["query_string"] = _org_filtered(scope.get("query_string", b""), decision.org_filter)
        scope.setdefault("state", {})["identity"] = identity
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = [500]
        headers = dict(scope["headers"])
        request_id = _request_id(headers)
        logs.REQUEST_ID.set(request_id)  # this request's task (and the thread it runs in) only

        async def send_status(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                message.setdefault("headers", []).append((b"x-request-id", request_id.encode()))
            await send(message)

        refusal = await self.refusal(scope, headers)
        if refusal is not None:
            if has_body(scope):  # never read: close, or its bytes would be parsed as the next request
                refusal.headers["Connection"] = "close"
            await refusal(scope, receive, send_status)
        else:
            await self.app(scope, receive, send_status)
        route = getattr(scope.get("route"), "path", "unmatched")
        self.metrics.requests.labels(scope["method"], route, str(status[0])).inc()
        self.metrics.latency.labels(route).observe(time.perf_counter() - start)


