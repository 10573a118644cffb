"""Liveness with the database (`/healthz`, public) and the Prometheus metrics (`/metrics`, admin)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from tawa import __version__
from tawa.wallet import models as m
from tawa.wallet.web import JSONResponse, StoreDep

router = APIRouter()


@router.get("/healthz", response_model=m.HealthOut, responses={503: {"model": m.ErrorOut}})
def healthz(store: StoreDep) -> JSONResponse:
    store.ping()
    return JSONResponse({"status": "ok", "database": store.dialect, "version": __version__})


@router.get("/metrics", include_in_schema=False)
def prometheus(request: Request) -> Response:
    return Response(generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
