"""The wallet HTTP app (FastAPI): `create_app(settings)`.

Every POST needs an `Idempotency-Key` header (batch items carry their own keys
as well); an answer replayed for a key already used carries
`Idempotent-Replayed: true`. Every call but /healthz and /openapi.json needs
`Authorization: Bearer <credential>` (reads of balances and gas not with
`TAWA_WALLET_OPEN_READS=true`); the credential's role and org decide what it may do,
by the one table in `tawa.wallet.policy`. Errors are JSON: `{"error": "UPPER_SNAKE_CODE", "message":
..., "field": ...}`. Bodies are bounded, timed and strict JSON (`tawa.wallet.body`);
request models refuse unknown fields.
"""

from __future__ import annotations

import hmac
import logging
import threading
import time
import uuid
from collections import Counter as Counter_
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Annotated, Any, Literal
from urllib.parse import parse_qsl, urlencode

import orjson
from fastapi import FastAPI, Header, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse as _StdJSONResponse
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from sqlalchemy.exc import DBAPIError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from tawa import __version__, logs
from tawa.names import Grant
from tawa.refusal import Refusal
from tawa.wallet import domain as d
from tawa.wallet import models as m
from tawa.wallet.body import PARSED, BodyGuard, has_body, shown_name
from tawa.wallet.policy import ADMIN, Forbidden, Identity, Role, decide, rule_for
from tawa.wallet.settings import MAX_BATCH, ServerSettings
from tawa.wallet.store import KEY_PREFIX, Store, parse_time
from tawa.wallet.throttle import FailedAuthThrottle

log = logging.getLogger("tawa.wallet")
# /docs and /redoc exist only with TAWA_WALLET_DOCS=true; /metrics is not here: it shows revenue.
PUBLIC_PATHS = {"/healthz", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}
AMOUNT_FIELDS = {"tokens", "replicas", "ttlSeconds", "pods"}
_NO_BODY = object()

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
WalletId = Annotated[str, Path(max_length=80, examples=["wallet-acme"], description="wallet-{org}")]
IdemKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=255,
                                       description="Required: a replay returns the first answer")]


class JSONResponse(_StdJSONResponse):
    """orjson: a 500-item batch answer is encoded several times faster than with json."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def error(status: int, code: str, message: str, field: str | None = None, **extra: Any) -> JSONResponse:
    return JSONResponse(Refusal(status, code, message, field, **extra).body(), status_code=status)


# --------------------------------------------------------------------------- metrics


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("wallet_http_requests_total", "HTTP requests", ["method", "route", "status"],
                                registry=r)
        self.latency = Histogram("wallet_http_request_seconds", "HTTP request latency", ["route"], registry=r)
        self.commands = Counter("wallet_commands_total", "Ledger commands by outcome", ["kind", "status"],
                                registry=r)
        self.tokens = Counter("wallet_gas_tokens_total", "Tokens moved by successful commands", ["kind"],
                              registry=r)
        self.batch = Histogram("wallet_batch_items", "Items per batch call", ["kind"], registry=r,
                               buckets=(1, 10, 50, 100, 250, 500, 1000))
        self.expired = Counter("wallet_holds_expired_total", "Holds expired by the sweep", registry=r)

    def record(self, items: Sequence[tuple[str, d.Command]], outcomes: Sequence[d.Outcome]) -> None:
        # Counted locally first: a labelled prometheus increment per batch item cost more than its SQL.
        counts: Counter_[tuple[str, int]] = Counter_()
        tokens: Counter_[str] = Counter_()
        for (_, cmd), out in zip(items, outcomes, strict=True):
            counts[cmd.kind, out.status] += 1
            amount = getattr(cmd, "tokens", None)
            if out.ok and type(amount) is int:
                tokens[cmd.kind] += amount
        for (kind, status), n in counts.items():
            self.commands.labels(kind, str(status)).inc(n)
        for kind, n in tokens.items():
            self.tokens.labels(kind).inc(n)


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

    async def identify(self, given: bytes) -> Identity | None:
        found = None
        for token, identity in self.programs:  # every one compared: the time says nothing about which
            if hmac.compare_digest(given, token):
                found = identity
        if found is None and given.startswith(KEY_PREFIX.encode()):
            found = await run_in_threadpool(self.store.identity_for_key, given.decode("latin-1"))
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
        found = rule_for(method, path)
        if (not header or scheme.lower() != b"bearer") and self.settings.open_reads and found is not None \
                and found[0].open_read:
            return None  # TAWA_WALLET_OPEN_READS: reads of balances and gas without a credential
        source = (scope.get("client") or ("unknown",))[0]
        if (wait := self.throttle.retry_after(source)) is not None:
            resp = error(429, "TOO_MANY_FAILED_AUTHENTICATIONS", f"Authorization: too many failed authentications "
                         f"from {source}; retry after {wait} seconds with a valid credential", "Authorization")
            resp.headers["Retry-After"] = str(wait)
            return resp
        if not header or scheme.lower() != b"bearer":
            self.throttle.failed(source)
            return _unauthenticated("Authorization: send 'Authorization: Bearer <token>': your TAWA_WALLET_TOKEN "
                                    "(a program's token or an org key)")
        identity = await self.identify(given.strip())
        if identity is None:
            self.throttle.failed(source)
            return _unauthenticated("Authorization: the bearer token is no credential of this wallet (unknown or "
                                    "revoked); check the token you were given")
        orgs = [v for k, v in parse_qsl(scope.get("query_string", b"").decode("latin-1")) if k == "org"]
        decision = decide(identity, method, path, orgs)
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


# --------------------------------------------------------------------------- errors


def _field(loc: Sequence[Any]) -> list[str]:
    """The error's place as field names; a key that does not look like one (input) is shown as '?'."""
    return [str(p) if isinstance(p, int) else shown_name(p) or "?" for p in loc
            if p not in ("body", "query", "path", "header")]


def _validation_response(exc: RequestValidationError) -> JSONResponse:
    err = exc.errors()[0]
    kind = err.get("type")
    if kind == "json_invalid":
        return error(400, "INVALID_JSON", "body: the request body is not valid JSON; send a JSON object", "body")
    if kind == m.GRANTS_SHAPE_CHANGED:
        return error(422, "GRANTS_SHAPE_CHANGED", str(err.get("msg")), "services")
    loc = _field(err.get("loc", ()))
    field = ".".join(loc) or "body"
    if kind == "extra_forbidden":
        return _refused(_unknown_field(field))
    if tuple(err.get("loc", ())) == ("body",):
        return error(400, "INVALID_JSON", "body: send a JSON object with Content-Type: application/json", "body")
    if err.get("type") == "missing":
        return error(422, "MISSING_FIELD", f"{field}: this field is required", field)
    if loc and loc[-1] in AMOUNT_FIELDS:
        return error(422, "INVALID_AMOUNT", f"{field}: {err.get('msg')}; send a whole number (no quotes, "
                     f"no fraction), at least 1 and at most {d.MAX_TOKENS}", field)
    return error(422, "INVALID_FIELD", f"{field}: {err.get('msg')}", field)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return _validation_response(exc)

    @app.exception_handler(Refusal)
    async def _refusal(_: Request, exc: Refusal) -> JSONResponse:
        return _refused(exc)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}.get(exc.status_code, "HTTP_ERROR")
        return error(exc.status_code, code, str(exc.detail))

    @app.exception_handler(DBAPIError)
    async def _db(_: Request, exc: DBAPIError) -> JSONResponse:
        log.error("database error: %s", exc)
        return error(503, "DATABASE_UNAVAILABLE", "the wallet's database did not answer; retry shortly")

    @app.exception_handler(Exception)
    async def _bug(_: Request, exc: Exception) -> JSONResponse:
        log.error("unexpected error", exc_info=exc)  # the log line carries the request id
        return error(500, "INTERNAL_ERROR", "the wallet failed on this request and logged why; retry, and report "
                     "the X-Request-ID of this answer if it persists")


# --------------------------------------------------------------------------- OpenAPI


def _responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    models: dict[int, type] = {402: m.InsufficientGasOut}
    base = {400, 401, 403, 422, *codes}
    return {c: {"model": models.get(c, m.ErrorOut)} for c in sorted(base)}


POST_ERRORS = (400, 409, 413)
# On the stored answer to a key already used (Stripe's name), so that a caller can tell
# "done now" from "done before", e.g. to count a charge once when two replicas send it.
REPLAYED = {"Idempotent-Replayed": "true"}
REPLAYED_DOC = {"Idempotent-Replayed": {
    "description": "true when this is the stored answer of an earlier request with the same Idempotency-Key",
    "schema": {"type": "string", "enum": ["true"]}}}


def _openapi(app: FastAPI) -> Callable[[], dict[str, Any]]:
    def build() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, routes=app.routes,
                                 description=app.description)
            schema.setdefault("components", {})["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
            for path, ops in schema["paths"].items():
                if path not in PUBLIC_PATHS:
                    for op in ops.values():
                        op["security"] = [{"bearer": []}]
                        for param in op.get("parameters", []):
                            # Optional in the handler only so that its absence gets our 400, not a 422.
                            if param["name"] == "Idempotency-Key":
                                param["required"] = True
                                if not path.endswith("/batch"):  # batch items answer for themselves
                                    _document_replays(op)
            app.openapi_schema = schema
        return app.openapi_schema

    return build


def _document_replays(op: dict[str, Any]) -> None:
    for code, response in op.get("responses", {}).items():
        if code.startswith("2"):
            response["headers"] = REPLAYED_DOC


def _batch_body(model: type[m._In]) -> dict[str, Any]:
    item = model.model_json_schema(by_alias=True)
    body = {"type": "object", "required": ["items"], "properties": {
        "items": {"type": "array", "minItems": 1, "maxItems": MAX_BATCH, "items": item}}}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": body}}}}


# --------------------------------------------------------------------------- batch parsing


def _item_command(kind: str, item: Any) -> tuple[str, d.Command] | d.Outcome:
    """A batch item → (key, command), or the 4xx outcome for a malformed item."""
    if not isinstance(item, dict):
        return d.Outcome(422, Refusal(422, "INVALID_FIELD", "items: every item must be a JSON object",
                                        "items").body())
    key = item.get("key")
    if not isinstance(key, str) or not 0 < len(key) <= 255:
        return d.Outcome(422, Refusal(422, "INVALID_FIELD", "key: every item needs its own idempotency key, "
                                        "a string of 1 to 255 characters", "key").body())
    names = ("wallet", "tokens") if kind == "hold" else (
        "hold", "provider", "tokens", "service", "route", "method", "requestId")
    unknown = sorted(set(item) - {"key", *names, *(("ttlSeconds",) if kind == "hold" else ())})
    if unknown:
        return d.Outcome(422, _unknown_field(shown_name(unknown[0]) or "?").body())
    for name in names:
        if name not in item:
            return d.Outcome(422, Refusal(422, "MISSING_FIELD", f"{name}: this field is required", name).body())
    for name in names:
        if name != "tokens" and type(item[name]) is not str:
            return d.Outcome(422, Refusal(422, "INVALID_FIELD", f"{name}: must be a string", name).body())
    if kind == "hold":
        return key, d.PlaceHold(item["wallet"], item["tokens"], item.get("ttlSeconds", 300))
    return key, d.Settle(item["hold"], item["provider"], item["tokens"], item["service"], item["route"],
                         item["method"], item["requestId"])


def _unknown_field(field: str) -> Refusal:
    """`field`: already made safe to show (shown_name / _field)."""
    return Refusal(422, "UNKNOWN_FIELD", f"{field}: not a field of this request; remove it (the fields are in "
                     "/openapi.json)", field)


def _refused(refusal: Refusal) -> JSONResponse:
    return JSONResponse(refusal.body(), status_code=refusal.status)


# --------------------------------------------------------------------------- app


def create_app(settings: ServerSettings | None = None, store: Store | None = None) -> FastAPI:
    settings = settings or ServerSettings.from_env()
    store = store or Store(settings.database_url)  # runs the migrations
    metrics = Metrics()
    stop = threading.Event()

    def sweeper() -> None:
        while not stop.wait(settings.sweep_seconds):
            try:
                metrics.expired.inc(store.sweep(settings.idempotency_hours))
            except Exception:  # keep sweeping; the next round retries
                log.exception("hold sweep failed")

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        thread = threading.Thread(target=sweeper, name="wallet-sweep", daemon=True)
        thread.start()
        yield
        stop.set()
        thread.join(timeout=5)
        store.close()

    app = FastAPI(title="Tawa wallet", version=__version__, lifespan=lifespan,
                  description="Prepaid gas: a double-entry ledger with intro, purchased and earned tokens.",
                  docs_url="/docs" if settings.docs else None, redoc_url="/redoc" if settings.docs else None)
    app.state.store, app.state.settings, app.state.metrics = store, settings, metrics
    app.openapi = _openapi(app)  # type: ignore[method-assign]
    # The last added runs first: the token is checked before a byte of the body is read.
    app.add_middleware(BodyGuard, max_body_bytes=settings.max_body_bytes, body_timeout=settings.body_timeout)
    app.add_middleware(AuthAndMetrics, settings=settings, metrics=metrics, store=store)
    _install_error_handlers(app)

    def run(request: Request, key: str | None, cmd: d.Command) -> JSONResponse:
        if not key:
            return _missing_key()
        items = [(key, replace(cmd, actor=_actor(request)))]
        outcomes = store.apply(items)
        metrics.record(items, outcomes)
        answer = outcomes[0]
        return JSONResponse(answer.body, status_code=answer.status, headers=REPLAYED if answer.replayed else None)

    async def run_batch(request: Request, key: str | None, kind: str) -> JSONResponse:
        if not key:
            return _missing_key()
        payload = getattr(request.state, PARSED, _NO_BODY)  # parsed, strictly, by BodyGuard
        if payload is _NO_BODY:
            return error(400, "INVALID_JSON", 'body: send a JSON object {"items": [...]}', "body")
        if isinstance(payload, dict) and (unknown := sorted(set(payload) - {"items"})):
            return _refused(_unknown_field(shown_name(unknown[0]) or "?"))
        items = payload.get("items") if isinstance(payload, dict) else None
        if not isinstance(items, list) or not 1 <= len(items) <= MAX_BATCH:
            return error(422, "INVALID_FIELD", f"items: send a list of 1 to {MAX_BATCH} items", "items")
        actor = _actor(request)
        parsed = [_item_command(kind, item) for item in items]
        todo = [(p[0], replace(p[1], actor=actor)) for p in parsed if isinstance(p, tuple)]
        answers = await run_in_threadpool(store.apply, todo) if todo else []
        metrics.batch.labels(kind).observe(len(items))
        metrics.record(todo, answers)
        done = iter(answers)
        results = []
        for item, p in zip(items, parsed, strict=True):
            if isinstance(p, tuple):
                results.append({"key": p[0], "status": (out := next(done)).status, "body": out.body})
            else:
                echo = item.get("key") if isinstance(item, dict) and isinstance(item.get("key"), str) else ""
                results.append({"key": echo, "status": p.status, "body": p.body})
        return JSONResponse({"results": results})

    @app.get("/healthz", response_model=m.HealthOut, responses={503: {"model": m.ErrorOut}})
    def healthz() -> JSONResponse:
        store.ping()
        return JSONResponse({"status": "ok", "database": store.dialect, "version": __version__})

    @app.get("/metrics", include_in_schema=False)
    def prometheus() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.post("/v1/wallets", status_code=201, response_model=m.WalletOut,
              responses={200: {"model": m.WalletOut, "description": "Already existed (no second grant)"},
                         **_responses(*POST_ERRORS)})
    def create_wallet(request: Request, body: m.CreateWalletIn, key: IdemKey = None) -> JSONResponse:
        return run(request, key, d.CreateWallet(body.org))

    @app.get("/v1/wallets/{wallet_id}", response_model=m.WalletOut, responses=_responses(404))
    def get_wallet(wallet_id: WalletId) -> JSONResponse:
        return JSONResponse(store.get_wallet(wallet_id))

    @app.get("/v1/wallets/{wallet_id}/ledger", response_model=m.LedgerOut, responses=_responses(404))
    def ledger(wallet_id: WalletId, limit: Annotated[int, Query(ge=1, le=1000)] = 50, cursor: str | None = None,
               from_: Annotated[str | None, Query(alias="from")] = None, to: str | None = None) -> JSONResponse:
        return JSONResponse(store.ledger(wallet_id, limit, _cursor(cursor), parse_time(from_, "from"),
                                         parse_time(to, "to", end=True)))

    @app.post("/v1/wallets/{wallet_id}/purchases", status_code=201, response_model=m.ChargeOut,
              responses=_responses(404, *POST_ERRORS))
    def purchase(request: Request, wallet_id: WalletId, body: m.PurchaseIn, key: IdemKey = None) -> JSONResponse:
        return run(request, key, d.Purchase(wallet_id, body.tokens))

    @app.post("/v1/wallets/{wallet_id}/check-reserve", response_model=m.ReserveOut,
              responses=_responses(404, *POST_ERRORS))
    def check_reserve(request: Request, wallet_id: WalletId, body: m.CheckReserveIn,
                      key: IdemKey = None) -> JSONResponse:
        return run(request, key, d.CheckReserve(wallet_id, body.tier, body.replicas))

    @app.post("/v1/wallets/{wallet_id}/hosting-charges", status_code=201, response_model=m.ChargeOut,
              responses=_responses(402, 404, *POST_ERRORS))
    def hosting_charge(request: Request, wallet_id: WalletId, body: m.HostingChargeIn,
                       key: IdemKey = None) -> JSONResponse:
        return run(request, key, d.HostingCharge(wallet_id, body.component, body.hour, body.tokens, body.tier,
                                                 body.pods, body.service))

    @app.get("/v1/wallets/{wallet_id}/bill-grants", response_model=m.BillGrantsOut, responses=_responses(404))
    def get_bill_grants(wallet_id: WalletId) -> JSONResponse:
        return JSONResponse(store.get_bill_grants(wallet_id))

    @app.put("/v1/wallets/{wallet_id}/bill-grants", response_model=m.BillGrantsOut, responses=_responses(404, 413))
    def put_bill_grants(wallet_id: WalletId, body: m.BillGrantsIn) -> JSONResponse:
        return JSONResponse(store.put_bill_grants(wallet_id, [Grant(g.org, g.service) for g in body.grants]))

    @app.post("/v1/wallets/{wallet_id}/keys", status_code=201, response_model=m.KeyCreatedOut,
              responses=_responses(404))
    def create_key(wallet_id: WalletId, body: m.KeyIn) -> JSONResponse:
        # No Idempotency-Key: the answer holds the key's secret, which must never be stored. A retried
        # create makes a second key; list the keys and revoke the one not kept.
        return JSONResponse(store.create_key(wallet_id, Role(body.role), body.name), status_code=201)

    @app.get("/v1/wallets/{wallet_id}/keys", response_model=m.KeysOut, responses=_responses(404))
    def list_keys(wallet_id: WalletId) -> JSONResponse:
        return JSONResponse(store.list_keys(wallet_id))

    @app.delete("/v1/wallets/{wallet_id}/keys/{key_id}", status_code=204, responses=_responses(404))
    def revoke_key(wallet_id: WalletId, key_id: Annotated[str, Path(max_length=32)]) -> Response:
        store.revoke_key(wallet_id, key_id)
        return Response(status_code=204)

    @app.post("/v1/holds", status_code=201, response_model=m.HoldOut, responses=_responses(402, 404, *POST_ERRORS))
    def hold(request: Request, body: m.HoldIn, key: IdemKey = None) -> JSONResponse:
        return run(request, key, d.PlaceHold(body.wallet, body.tokens, body.ttl_seconds))

    @app.post("/v1/holds/batch", response_model=m.BatchOut, responses=_responses(*POST_ERRORS),
              openapi_extra=_batch_body(m.HoldBatchItem))
    async def hold_batch(request: Request, key: IdemKey = None) -> JSONResponse:
        return await run_batch(request, key, "hold")

    @app.post("/v1/holds/{hold_id}/settle", response_model=m.SettlementOut,
              responses=_responses(404, *POST_ERRORS))
    def settle(request: Request, hold_id: str, body: m.SettleIn, key: IdemKey = None) -> JSONResponse:
        return run(request, key, d.Settle(hold_id, body.provider, body.tokens, body.service, body.route,
                                          body.method, body.request_id))

    @app.post("/v1/holds/{hold_id}/release", response_model=m.HoldOut, responses=_responses(404, *POST_ERRORS))
    def release(request: Request, hold_id: str, key: IdemKey = None) -> JSONResponse:
        return run(request, key, d.Release(hold_id))

    @app.post("/v1/settlements/batch", response_model=m.BatchOut, responses=_responses(*POST_ERRORS),
              openapi_extra=_batch_body(m.SettleBatchItem))
    async def settle_batch(request: Request, key: IdemKey = None) -> JSONResponse:
        return await run_batch(request, key, "settle")

    @app.get("/v1/gas/events", response_model=m.GasEventsOut, responses=_responses())
    def events(from_: Annotated[str | None, Query(alias="from")] = None, to: str | None = None,
               service: str | None = None, org: str | None = None,
               limit: Annotated[int, Query(ge=1, le=1000)] = 100, cursor: str | None = None) -> JSONResponse:
        return JSONResponse(store.gas_events(start=parse_time(from_, "from"), end=parse_time(to, "to", end=True),
                                             service=service, org=org, limit=limit, cursor=_cursor(cursor)))

    @app.get("/v1/gas/stats", response_model=m.GasStatsOut, responses=_responses())
    def stats(by: Literal["day", "service"] = "day", from_: Annotated[str | None, Query(alias="from")] = None,
              to: str | None = None, org: str | None = None, service: str | None = None) -> JSONResponse:
        return JSONResponse(store.gas_stats(by=by, start=parse_time(from_, "from"),
                                            end=parse_time(to, "to", end=True), service=service, org=org))

    @app.post("/v1/transactions/{transaction_id}/reversals", status_code=201, response_model=m.ReversalOut,
              responses=_responses(404, 409, *POST_ERRORS))
    def reverse(request: Request, transaction_id: Annotated[int, Path(ge=1, le=2**62)],
                key: IdemKey = None) -> JSONResponse:
        return run(request, key, d.Reverse(transaction_id))

    @app.get("/v1/admin/integrity", response_model=m.IntegrityOut, responses=_responses())
    def integrity() -> JSONResponse:
        return JSONResponse(store.integrity())

    return app


def _actor(request: Request) -> str | None:
    """Who is acting, for the ledger (set by AuthAndMetrics; None only on an --insecure-no-auth wallet)."""
    identity = getattr(request.state, "identity", None)
    return identity.actor if isinstance(identity, Identity) else None


def _missing_key() -> JSONResponse:
    return error(400, "IDEMPOTENCY_KEY_REQUIRED", "Idempotency-Key: this header is required on every POST; send a "
                 "unique key per operation and reuse it only to retry", "Idempotency-Key")


def _cursor(cursor: str | None) -> int | None:
    if cursor is None or cursor == "":
        return None
    if not cursor.isdigit() or len(cursor) > 18:
        raise Refusal(422, "INVALID_CURSOR", "cursor: pass back the nextCursor of the previous page", "cursor")
    return int(cursor)
