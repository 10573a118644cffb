"""The wallet HTTP app (FastAPI): `create_app(settings)` wires the routes (`tawa.wallet.routes`,
one router per resource) to a store, its middleware and its error handlers.

Every POST needs an `Idempotency-Key` header (batch items carry their own keys
as well); an answer replayed for a key already used carries
`Idempotent-Replayed: true`. Every call but /healthz and /openapi.json needs
`Authorization: Bearer <credential>` (reads of balances and gas not with
`TAWA_WALLET_OPEN_READS=true`); the credential's role and org decide what it may do,
by the one table in `tawa.wallet.policy` (applied by `tawa.wallet.auth`). Errors are JSON:
`{"error": "UPPER_SNAKE_CODE", "message": ..., "field": ...}` (`tawa.wallet.errors`). Bodies are
bounded, timed and strict JSON (`tawa.wallet.body`); request models refuse unknown fields.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from fastapi import FastAPI

from tawa import __version__
from tawa.wallet.auth import AuthAndMetrics
from tawa.wallet.body import BodyGuard
from tawa.wallet.errors import install_error_handlers
from tawa.wallet.metrics import Metrics
from tawa.wallet.openapi import openapi_builder
from tawa.wallet.routes import ROUTERS
from tawa.wallet.settings import ServerSettings
from tawa.wallet.store import Store

log = logging.getLogger("tawa.wallet")


def create_app(settings: ServerSettings | None = None, store: Store | None = None) -> FastAPI:
    settings = settings or ServerSettings.from_env()
    store = store or Store(settings.database_url)  # runs the migrations
    metrics = Metrics()
    app = FastAPI(title="Tawa wallet", version=__version__, lifespan=_sweeping(settings, store, metrics),
                  description="Prepaid gas: a double-entry ledger with intro, purchased and earned tokens.",
                  docs_url="/docs" if settings.docs else None, redoc_url="/redoc" if settings.docs else None)
    app.state.store, app.state.settings, app.state.metrics = store, settings, metrics
    app.openapi = openapi_builder(app)  # type: ignore[method-assign]
    # The last added runs first: the token is checked before a byte of the body is read.
    app.add_middleware(BodyGuard, max_body_bytes=settings.max_body_bytes, body_timeout=settings.body_timeout)
    app.add_middleware(AuthAndMetrics, settings=settings, metrics=metrics, store=store)
    install_error_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    return app


def _sweeping(settings: ServerSettings, store: Store,
              metrics: Metrics) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """The app's lifespan: a thread expires abandoned holds every `sweep_seconds`; the store closes last."""
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

    return lifespan
