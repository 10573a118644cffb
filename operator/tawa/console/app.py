"""The console's routes (Starlette). Every wallet call is made with the session's own org key,
so the wallet's policy table decides what the console may do; a refusal is shown as a page.

Security: a random session id in an HttpOnly, SameSite=Strict cookie (Secure behind TLS); a
CSRF token per session checked on every POST (a missing or forged one is a 403 page and
nothing changes); failed logins slowed per source; a Content-Security-Policy without inline
scripts; forms posted as application/x-www-form-urlencoded and parsed here (bounded)."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import parse_qs

import httpx
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tawa import names
from tawa.console import components, pages, usage
from tawa.console.sessions import Session, SessionStore
from tawa.console.settings import ConsoleSettings
from tawa.wallet.client import AsyncWalletClient, WalletAuthError, WalletError
from tawa.wallet.throttle import FailedAuthThrottle

COOKIE = "tawa_console"
LOGIN_COOKIE = "tawa_console_login"  # the login form's CSRF token (double submit: no session yet)
MAX_FORM_BYTES = 16 * 1024
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}
Handler = Callable[[Request, Session, dict[str, str]], Awaitable[Response]]


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", []).extend((k.lower().encode(), v.encode()) for k, v in HEADERS.items())
            await send(message)

        await self.app(scope, receive, with_headers if scope["type"] == "http" else send)


class Console:
    """The routes, with the settings, the session store and the login throttle they share."""

    def __init__(self, settings: ConsoleSettings) -> None:
        self.settings = settings
        self.sessions = SessionStore(settings.session_seconds, settings.max_sessions)
        self.throttle = FailedAuthThrottle(settings.login_failure_limit, settings.login_failure_window)

    def client(self, session: Session | str) -> AsyncWalletClient:
        return AsyncWalletClient(self.settings.wallet_url, session if isinstance(session, str) else session.key)

    def cookie(self, resp: Response, name: str, value: str, max_age: int | None = None) -> None:
        resp.set_cookie(name, value, max_age=max_age, httponly=True, samesite="strict",
                        secure=self.settings.secure_cookies, path="/")

    def session(self, request: Request) -> Session | None:
        return self.sessions.get(request.cookies.get(COOKIE))

    # ----------------------------------------------------------------------- login

    async def login_form(self, request: Request) -> Response:
        if self.session(request) is not None:
            return RedirectResponse("/wallet", 303)
        return self.login_page()

    def login_page(self, notice: str = "", status: int = 200) -> Response:
        token = secrets.token_urlsafe(32)
        resp = HTMLResponse(pages.login(token, notice), status)
        self.cookie(resp, LOGIN_COOKIE, token, 600)
        return resp

    async def login(self, request: Request) -> Response:
        fields = await form(request)
        if fields is None or not same(fields.get("csrf"), request.cookies.get(LOGIN_COOKIE)):
            return forbidden()
        source = request.client.host if request.client else "unknown"
        if (wait := self.throttle.retry_after(source)) is not None:
            return self.login_page(f"Too many failed logins: try again in {wait} seconds.", 429)
        key = fields.get("key", "").strip()
        try:
            me = await whoami(self.settings.wallet_url, key)
        except (httpx.HTTPError, ValueError):
            return self.login_page("The wallet cannot be reached; try again shortly.", 502)
        if me.get("throttled"):  # the wallet slows failed authentications from the console's address
            return self.login_page("The wallet is slowing logins after too many failures: try again shortly.",
                                   429)
        if me.get("role") not in ("owner", "viewer") or not me.get("org"):
            self.throttle.failed(source)
            return self.login_page("That is not a valid org key (unknown, revoked or not an org's key).", 401)
        self.sessions.close(request.cookies.get(COOKIE))  # a login always starts a new session
        resp = RedirectResponse("/wallet", 303)
        self.cookie(resp, COOKIE, self.sessions.open(key, me["org"], me["role"], me["keyId"]))
        resp.delete_cookie(LOGIN_COOKIE, path="/")
        return resp

    async def logout(self, request: Request, session: Session, fields: dict[str, str]) -> Response:
        self.sessions.close(request.cookies.get(COOKIE))
        resp = RedirectResponse("/login", 303)
        resp.delete_cookie(COOKIE, path="/")
        return resp

    # ----------------------------------------------------------------------- wallet

    async def wallet_page(self, request: Request, session: Session, notice: str = "", error: bool = True,
                          status: int = 200) -> Response:
        cursor = request.query_params.get("cursor") or None
        async with self.client(session) as c:
            w = await c.get_wallet(session.org)
            page = await c.ledger(session.org, limit=20, cursor=cursor)
        return HTMLResponse(pages.wallet(session, w, page.transactions, page.next_cursor, notice, error), status)

    async def purchase(self, request: Request, session: Session, fields: dict[str, str]) -> Response:
        tokens = fields.get("tokens", "").replace(",", "").strip()
        if not tokens.isdigit() or int(tokens) < 1:
            return await self.wallet_page(request, session, "Buy: the amount must be a whole number of tokens, "
                                          "at least 1.", status=400)
        key = fields.get("idempotency_key") or None
        async with self.client(session) as c:
            await c.purchase(session.org, int(tokens), idempotency_key=key and f"console/{session.key_id}/{key}")
        return RedirectResponse("/wallet", 303)

    # ----------------------------------------------------------------------- keys

    async def keys_page(self, request: Request, session: Session, notice: str = "", status: int = 200) -> Response:
        async with self.client(session) as c:
            found = await c.list_keys(session.org)
        return HTMLResponse(pages.keys(session, found, notice), status)

    async def create_key(self, request: Request, session: Session, fields: dict[str, str]) -> Response:
        async with self.client(session) as c:
            key = await c.create_key(session.org, fields.get("role", "viewer"), fields.get("name", "")[:100])
        return HTMLResponse(pages.new_key(session, key), 201)

    async def revoke_key(self, request: Request, session: Session, fields: dict[str, str]) -> Response:
        key_id = request.path_params["key_id"]
        async with self.client(session) as c:
            await c.revoke_key(session.org, key_id)
        self.sessions.close_key(key_id)  # a revoked key's sessions end now, this one too if it was its key
        return RedirectResponse("/keys" if key_id != session.key_id else "/login", 303)

    # ----------------------------------------------------------------------- grants

    async def grants_page(self, request: Request, session: Session, notice: str = "",
                          status: int = 200) -> Response:
        async with self.client(session) as c:
            found = await c.get_bill_grants(session.org)
        return HTMLResponse(pages.grants(session, found, notice), status)

    async def change_grants(self, request: Request, session: Session, fields: dict[str, str]) -> Response:
        try:
            grant = names.Grant.parse(fields.get("grant", "").strip())
        except names.InvalidName as exc:
            return await self.grants_page(request, session, str(exc), 400)
        async with self.client(session) as c:
            now = set((await c.get_bill_grants(session.org)).grants)
            wanted = now - {grant} if request.url.path.endswith("/remove") else now | {grant}
            await c.put_bill_grants(session.org, sorted(wanted, key=str))
        return RedirectResponse("/grants", 303)

    # ----------------------------------------------------------------------- components

    async def components_page(self, request: Request, session: Session) -> Response:
        found = await run_in_threadpool(components.read, self.settings.kubeconfig, session.org)
        return HTMLResponse(components.page(session, found))

    # ----------------------------------------------------------------------- plumbing

    def viewing(self, show: Callable[..., Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
        """A page that needs a session; a wallet refusal is shown on it."""
        async def endpoint(request: Request) -> Response:
            session = self.session(request)
            if session is None:
                return RedirectResponse("/login", 303)
            return await self.answered(request, session, show(request, session))

        return endpoint

    def posting(self, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        """A POST that needs a session and its CSRF token (checked before anything is done)."""
        async def endpoint(request: Request) -> Response:
            session = self.session(request)
            fields = await form(request)
            if session is None:
                return RedirectResponse("/login", 303)
            if fields is None or not same(fields.get("csrf"), session.csrf):
                return forbidden(session)
            return await self.answered(request, session, handler(request, session, fields))

        return endpoint

    async def answered(self, request: Request, session: Session, work: Awaitable[Response]) -> Response:
        try:
            return await work
        except WalletAuthError as exc:
            if exc.status == 401:  # the key was revoked: its session ends
                self.sessions.close_key(session.key_id)
                return RedirectResponse("/login", 303)
            return HTMLResponse(pages.refused("Not allowed", readable(exc), session), 403)
        except WalletError as exc:
            return HTMLResponse(pages.refused("The wallet refused", readable(exc), session),
                                exc.status if 400 <= exc.status < 500 else 502)


async def whoami(wallet_url: str, key: str) -> dict[str, str]:
    """The wallet's GET /v1/whoami for `key`: {role, org, keyId}; {} when it is no credential,
    {"throttled": "true"} when the wallet is slowing failed authentications."""
    async with httpx.AsyncClient(base_url=wallet_url, timeout=10) as http:
        r = await http.get("/v1/whoami", headers={"Authorization": f"Bearer {key}"})
    if r.status_code == 429:
        return {"throttled": "true"}
    if r.status_code in (401, 403):
        return {}
    r.raise_for_status()
    found = r.json()
    return found if isinstance(found, dict) else {}


def readable(exc: WalletError) -> str:
    return f"The wallet said: {exc}" if exc.status else "The wallet cannot be reached; try again shortly."


def same(given: str | None, expected: str | None) -> bool:
    return bool(given and expected) and hmac.compare_digest(str(given), str(expected))


def forbidden(session: Session | None = None) -> Response:
    return HTMLResponse(pages.refused("Forbidden", "This form has expired or did not come from this console: "
                                      "nothing was changed. Reload the page and try again.", session), 403)


async def form(request: Request) -> dict[str, str] | None:
    """The urlencoded form's fields (the first value of each), or None when it is not one or too big."""
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/x-www-form-urlencoded":
        return None
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return None
    return {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items()}


def create_app(settings: ConsoleSettings) -> ASGIApp:
    c = Console(settings)

    async def home(request: Request) -> Response:
        return RedirectResponse("/wallet", 303)

    async def healthz(request: Request) -> Response:
        return Response("ok", media_type="text/plain")

    routes = [
        Route("/", home),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/login", c.login_form, methods=["GET"]),
        Route("/login", c.login, methods=["POST"]),
        Route("/logout", c.posting(c.logout), methods=["POST"]),
        Route("/wallet", c.viewing(c.wallet_page), methods=["GET"]),
        Route("/wallet/purchases", c.posting(c.purchase), methods=["POST"]),
        Route("/keys", c.viewing(c.keys_page), methods=["GET"]),
        Route("/keys", c.posting(c.create_key), methods=["POST"]),
        Route("/keys/{key_id}/revoke", c.posting(c.revoke_key), methods=["POST"]),
        Route("/grants", c.viewing(c.grants_page), methods=["GET"]),
        Route("/grants", c.posting(c.change_grants), methods=["POST"]),
        Route("/grants/remove", c.posting(c.change_grants), methods=["POST"]),
        *usage.routes(c),
        Route("/components", c.viewing(c.components_page), methods=["GET"]),
        Mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static"),
    ]
    app = Starlette(routes=routes)
    app.state.console = c
    return SecurityHeaders(app)
