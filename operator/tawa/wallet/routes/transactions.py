"""Transactions: the compensating reversal of one that moved tokens."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from tawa.wallet import domain as d
from tawa.wallet import models as m
from tawa.wallet.web import POST_ERRORS, CommandsDep, IdemKey, JSONResponse, responses

router = APIRouter()


@router.post("/v1/transactions/{transaction_id}/reversals", status_code=201, response_model=m.ReversalOut,
             responses=responses(404, 409, *POST_ERRORS))
def reverse(commands: CommandsDep, transaction_id: Annotated[int, Path(ge=1, le=2**62)],
            key: IdemKey = None) -> JSONResponse:
    return commands.run(key, d.Reverse(transaction_id))
