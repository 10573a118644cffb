"""Gas reads: every charge as an event, and totals by day or service."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from tawa.wallet import models as m
from tawa.wallet.web import JSONResponse, StoreDep, parse_cursor, parse_time, responses

router = APIRouter()
From = Annotated[str | None, Query(alias="from")]


@router.get("/v1/gas/events", response_model=m.GasEventsOut, responses=responses())
def events(store: StoreDep, from_: From = None, to: str | None = None, service: str | None = None,
           org: str | None = None, limit: Annotated[int, Query(ge=1, le=1000)] = 100,
           cursor: str | None = None) -> JSONResponse:
    return JSONResponse(store.gas_events(start=parse_time(from_, "from"), end=parse_time(to, "to", end=True),
                                         service=service, org=org, limit=limit, cursor=parse_cursor(cursor)))


@router.get("/v1/gas/stats", response_model=m.GasStatsOut, responses=responses())
def stats(store: StoreDep, by: Literal["day", "service"] = "day", from_: From = None, to: str | None = None,
          org: str | None = None, service: str | None = None) -> JSONResponse:
    return JSONResponse(store.gas_stats(by=by, start=parse_time(from_, "from"), end=parse_time(to, "to", end=True),
                                        service=service, org=org))
