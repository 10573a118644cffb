"""Every error the wallet answers is JSON: `{"error": "UPPER_SNAKE_CODE", "message": ..., "field": ...}`.
Validation errors of the request models are translated here into the wallet's codes."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

from tawa.refusal import Refusal
from tawa.wallet import domain as d
from tawa.wallet import models as m
from tawa.wallet.body import shown_name
from tawa.wallet.web import JSONResponse, error, refused, unknown_field

log = logging.getLogger("tawa.wallet")
AMOUNT_FIELDS = {"tokens", "replicas", "ttlSeconds", "pods"}


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
        return refused(unknown_field(field))
    if tuple(err.get("loc", ())) == ("body",):
        return error(400, "INVALID_JSON", "body: send a JSON object with Content-Type: application/json", "body")
    if err.get("type") == "missing":
        return error(422, "MISSING_FIELD", f"{field}: this field is required", field)
    if loc and loc[-1] in AMOUNT_FIELDS:
        return error(422, "INVALID_AMOUNT", f"{field}: {err.get('msg')}; send a whole number (no quotes, "
                     f"no fraction), at least 1 and at most {d.MAX_TOKENS}", field)
    return error(422, "INVALID_FIELD", f"{field}: {err.get('msg')}", field)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return _validation_response(exc)

    @app.exception_handler(Refusal)
    async def _refusal(_: Request, exc: Refusal) -> JSONResponse:
        return refused(exc)

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


