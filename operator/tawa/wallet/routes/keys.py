"""Org keys: an org's own credentials (owner or viewer), created, listed and revoked by its owner."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import Response

from tawa.wallet import models as m
from tawa.wallet.policy import Role
from tawa.wallet.web import JSONResponse, StoreDep, WalletId, responses

router = APIRouter()


@router.post("/v1/wallets/{wallet_id}/keys", status_code=201, response_model=m.KeyCreatedOut,
             responses=responses(404))
def create_key(store: StoreDep, wallet_id: WalletId, body: m.KeyIn) -> JSONResponse:
    # No Idempotency-Key: the answer holds the key's secret, which must never be stored. A retried
    # create makes a second key; list the keys and revoke the one not kept.
    return JSONResponse(store.create_key(wallet_id, Role(body.role), body.name), status_code=201)


@router.get("/v1/wallets/{wallet_id}/keys", response_model=m.KeysOut, responses=responses(404))
def list_keys(store: StoreDep, wallet_id: WalletId) -> JSONResponse:
    return JSONResponse(store.list_keys(wallet_id))


@router.delete("/v1/wallets/{wallet_id}/keys/{key_id}", status_code=204, responses=responses(404))
def revoke_key(store: StoreDep, wallet_id: WalletId, key_id: Annotated[str, Path(max_length=32)]) -> Response:
    store.revoke_key(wallet_id, key_id)
    return Response(status_code=204)
