"""Who am I: the calling credential's role, and for an org key its org and key id (a console
logs in with a key and learns from this which org it acts for)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel

from tawa.wallet.policy import Identity
from tawa.wallet.web import JSONResponse, responses

router = APIRouter()


class WhoAmIOut(BaseModel):
    role: str
    org: str | None
    keyId: str | None  # noqa: N815 - the wallet's JSON is camelCase


@router.get("/v1/whoami", response_model=WhoAmIOut, responses=responses())
def whoami(request: Request) -> JSONResponse:
    identity: Identity = request.state.identity  # set by AuthAndMetrics for every authenticated caller
    return JSONResponse({"role": str(identity.role), "org": identity.org, "keyId": identity.key_id})
