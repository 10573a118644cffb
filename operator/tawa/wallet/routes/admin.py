"""Administration: the ledger's integrity check."""

from __future__ import annotations

from fastapi import APIRouter

from tawa.wallet import models as m
from tawa.wallet.web import JSONResponse, StoreDep, responses

router = APIRouter()


@router.get("/v1/admin/integrity", response_model=m.IntegrityOut, responses=responses())
def integrity(store: StoreDep) -> JSONResponse:
    return JSONResponse(store.integrity())
