"""Wallets: create one per org, read it and its ledger, buy tokens, check a deploy's reserve."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from tawa.wallet import domain as d
from tawa.wallet import models as m
from tawa.wallet.web import (
    POST_ERRORS,
    CommandsDep,
    IdemKey,
    JSONResponse,
    StoreDep,
    WalletId,
    parse_cursor,
    parse_time,
    responses,
)

router = APIRouter()


@router.post("/v1/wallets", status_code=201, response_model=m.WalletOut,
             responses={200: {"model": m.WalletOut, "description": "Already existed (no second grant)"},
                        **responses(*POST_ERRORS)})
def create_wallet(commands: CommandsDep, body: m.CreateWalletIn, key: IdemKey = None) -> JSONResponse:
    return commands.run(key, d.CreateWallet(body.org))


@router.get("/v1/wallets/{wallet_id}", response_model=m.WalletOut, responses=responses(404))
def get_wallet(store: StoreDep, wallet_id: WalletId) -> JSONResponse:
    return JSONResponse(store.get_wallet(wallet_id))


@router.get("/v1/wallets/{wallet_id}/ledger", response_model=m.LedgerOut, responses=responses(404))
def ledger(store: StoreDep, wallet_id: WalletId, limit: Annotated[int, Query(ge=1, le=1000)] = 50,
           cursor: str | None = None, from_: Annotated[str | None, Query(alias="from")] = None,
           to: str | None = None) -> JSONResponse:
    return JSONResponse(store.ledger(wallet_id, limit, parse_cursor(cursor), parse_time(from_, "from"),
                                     parse_time(to, "to", end=True)))


@router.post("/v1/wallets/{wallet_id}/purchases", status_code=201, response_model=m.ChargeOut,
             responses=responses(404, *POST_ERRORS))
def purchase(commands: CommandsDep, wallet_id: WalletId, body: m.PurchaseIn, key: IdemKey = None) -> JSONResponse:
    return commands.run(key, d.Purchase(wallet_id, body.tokens))


@router.post("/v1/wallets/{wallet_id}/check-reserve", response_model=m.ReserveOut,
             responses=responses(404, *POST_ERRORS))
def check_reserve(commands: CommandsDep, wallet_id: WalletId, body: m.CheckReserveIn,
                  key: IdemKey = None) -> JSONResponse:
    return commands.run(key, d.CheckReserve(wallet_id, body.tier, body.replicas))
