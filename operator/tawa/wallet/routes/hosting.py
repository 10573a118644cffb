"""Hosting: the operator's hourly charge for a Component's pods."""

from __future__ import annotations

from fastapi import APIRouter

from tawa.wallet import domain as d
from tawa.wallet import models as m
from tawa.wallet.web import POST_ERRORS, CommandsDep, IdemKey, JSONResponse, WalletId, responses

router = APIRouter()


@router.post("/v1/wallets/{wallet_id}/hosting-charges", status_code=201, response_model=m.ChargeOut,
             responses=responses(402, 404, *POST_ERRORS))
def hosting_charge(commands: CommandsDep, wallet_id: WalletId, body: m.HostingChargeIn,
                   key: IdemKey = None) -> JSONResponse:
    return commands.run(key, d.HostingCharge(wallet_id, body.component, body.hour, body.tokens, body.tier,
                                             body.pods, body.service))
