"""Bill grants: which orgs' services may bill a wallet via X-Bill-Org."""

from __future__ import annotations

from fastapi import APIRouter

from tawa.names import Grant
from tawa.wallet import models as m
from tawa.wallet.web import JSONResponse, StoreDep, WalletId, responses

router = APIRouter()


@router.get("/v1/wallets/{wallet_id}/bill-grants", response_model=m.BillGrantsOut, responses=responses(404))
def get_bill_grants(store: StoreDep, wallet_id: WalletId) -> JSONResponse:
    return JSONResponse(store.get_bill_grants(wallet_id))


@router.put("/v1/wallets/{wallet_id}/bill-grants", response_model=m.BillGrantsOut, responses=responses(404, 413))
def put_bill_grants(store: StoreDep, wallet_id: WalletId, body: m.BillGrantsIn) -> JSONResponse:
    return JSONResponse(store.put_bill_grants(wallet_id, [Grant(g.org, g.service) for g in body.grants]))
