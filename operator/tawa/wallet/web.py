"""What every route shares: the JSON answer, errors, the parameters' types, query-string parsing,
and the dependencies a route asks for (the store, and `Commands` to apply a ledger command as the
caller). Who may call a route is decided before it runs, by `tawa.wallet.auth` and THE policy
table (`tawa.wallet.policy`)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

import orjson
from fastapi import Depends, Header, Path, Request
from fastapi.responses import JSONResponse as _StdJSONResponse

from tawa.refusal import Refusal
from tawa.wallet import domain as d
from tawa.wallet import models as m
from tawa.wallet.metrics import Metrics
from tawa.wallet.policy import Identity
from tawa.wallet.store import Store

# /docs and /redoc exist only with TAWA_WALLET_DOCS=true; /metrics is not here: it shows revenue.
PUBLIC_PATHS = {"/healthz", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}
POST_ERRORS = (400, 409, 413)
# On the stored answer to a key already used (Stripe's name), so that a caller can tell
# "done now" from "done before", e.g. to count a charge once when two replicas send it.
REPLAYED = {"Idempotent-Replayed": "true"}
REPLAYED_DOC = {"Idempotent-Replayed": {
    "description": "true when this is the stored answer of an earlier request with the same Idempotency-Key",
    "schema": {"type": "string", "enum": ["true"]}}}

WalletId = Annotated[str, Path(max_length=80, examples=["wallet-acme"], description="wallet-{org}")]
IdemKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=255,
                                       description="Required: a replay returns the first answer")]


class JSONResponse(_StdJSONResponse):
    """orjson: a 500-item batch answer is encoded several times faster than with json."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def error(status: int, code: str, message: str, field: str | None = None, **extra: Any) -> JSONResponse:
    return refused(Refusal(status, code, message, field, **extra))


def refused(refusal: Refusal) -> JSONResponse:
    return JSONResponse(refusal.body(), status_code=refusal.status)


def unknown_field(field: str) -> Refusal:
    """`field`: already made safe to show (shown_name / the validation error's location)."""
    return Refusal(422, "UNKNOWN_FIELD", f"{field}: not a field of this request; remove it (the fields are in "
                   "/openapi.json)", field)


def missing_key() -> JSONResponse:
    return error(400, "IDEMPOTENCY_KEY_REQUIRED", "Idempotency-Key: this header is required on every POST; send a "
                 "unique key per operation and reuse it only to retry", "Idempotency-Key")


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The documented error answers of a route: the usual ones plus `codes`."""
    models: dict[int, type] = {402: m.InsufficientGasOut}
    base = {400, 401, 403, 422, *codes}
    return {c: {"model": models.get(c, m.ErrorOut)} for c in sorted(base)}


# --------------------------------------------------------------------------- query strings


def parse_time(value: str | None, name: str, end: bool = False) -> int | None:
    """`YYYY-MM-DD` (a whole UTC day: `to` includes it) or an ISO-8601 instant → epoch microseconds."""
    if value is None or value == "":
        return None
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            moment = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1 if end else 0)
        else:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
    except ValueError:
        raise Refusal(422, "INVALID_TIME", f"{name}: must be a date (YYYY-MM-DD) or an ISO-8601 time, "
                      "e.g. 2026-01-31 or 2026-01-31T12:00:00Z", name) from None  # the value is not echoed
    return int(moment.timestamp() * d.MICROS)


def parse_cursor(cursor: str | None) -> int | None:
    if cursor is None or cursor == "":
        return None
    if not cursor.isdigit() or len(cursor) > 18:
        raise Refusal(422, "INVALID_CURSOR", "cursor: pass back the nextCursor of the previous page", "cursor")
    return int(cursor)


# --------------------------------------------------------------------------- dependencies


async def _store(request: Request) -> Store:  # async: a sync dependency would cost a thread hop
    store: Store = request.app.state.store
    return store


@dataclass(frozen=True)
class Commands:
    """Applies ledger commands under their idempotency keys, as the calling identity."""

    store: Store
    metrics: Metrics
    actor: str | None  # None only on an --insecure-no-auth wallet

    def run(self, key: str | None, cmd: d.Command) -> JSONResponse:
        if not key:
            return missing_key()
        items = [(key, replace(cmd, actor=self.actor))]
        outcomes = self.store.apply(items)
        self.metrics.record(items, outcomes)
        answer = outcomes[0]
        return JSONResponse(answer.body, status_code=answer.status, headers=REPLAYED if answer.replayed else None)


async def _commands(request: Request) -> Commands:
    identity = getattr(request.state, "identity", None)  # set by AuthAndMetrics
    actor = identity.actor if isinstance(identity, Identity) else None
    return Commands(request.app.state.store, request.app.state.metrics, actor)


StoreDep = Annotated[Store, Depends(_store)]
CommandsDep = Annotated[Commands, Depends(_commands)]
