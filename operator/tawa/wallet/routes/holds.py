"""Holds and settlements: Janus reserves API gas before a call and settles what it cost after."""

from __future__ import annotations

from fastapi import APIRouter, Request

from tawa.wallet import domain as d
from tawa.wallet import models as m
from tawa.wallet.batch import run_batch
from tawa.wallet.openapi import batch_body
from tawa.wallet.web import POST_ERRORS, CommandsDep, IdemKey, JSONResponse, responses

router = APIRouter()


@router.post("/v1/holds", status_code=201, response_model=m.HoldOut, responses=responses(402, 404, *POST_ERRORS))
def hold(commands: CommandsDep, body: m.HoldIn, key: IdemKey = None) -> JSONResponse:
    return commands.run(key, d.PlaceHold(body.wallet, body.tokens, body.ttl_seconds))


@router.post("/v1/holds/batch", response_model=m.BatchOut, responses=responses(*POST_ERRORS),
             openapi_extra=batch_body(m.HoldBatchItem))
async def hold_batch(commands: CommandsDep, request: Request, key: IdemKey = None) -> JSONResponse:
    return await run_batch(commands, request, key, "hold")


@router.post("/v1/holds/{hold_id}/settle", response_model=m.SettlementOut, responses=responses(404, *POST_ERRORS))
def settle(commands: CommandsDep, hold_id: str, body: m.SettleIn, key: IdemKey = None) -> JSONResponse:
    return commands.run(key, d.Settle(hold_id, body.provider, body.tokens, body.service, body.route, body.method,
                                      body.request_id))


@router.post("/v1/holds/{hold_id}/release", response_model=m.HoldOut, responses=responses(404, *POST_ERRORS))
def release(commands: CommandsDep, hold_id: str, key: IdemKey = None) -> JSONResponse:
    return commands.run(key, d.Release(hold_id))


@router.post("/v1/settlements/batch", response_model=m.BatchOut, responses=responses(*POST_ERRORS),
             openapi_extra=batch_body(m.SettleBatchItem))
async def settle_batch(commands: CommandsDep, request: Request, key: IdemKey = None) -> JSONResponse:
    return await run_batch(commands, request, key, "settle")
