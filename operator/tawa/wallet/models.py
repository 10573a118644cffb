"""Pydantic models at the HTTP edge: request bodies (strict) and documented responses.

Amounts are strict integers: `5.0`, `"5"` and `true` are refused, not coerced. A
field a model does not know is refused (422 UNKNOWN_FIELD), not ignored: a typo must
not silently become a default.
Response models only document the API (OpenAPI, schemathesis); handlers return
the domain's JSON directly.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from tawa import names
from tawa.wallet.domain import MAX_REPLICAS, MAX_TOKENS, MAX_TTL_SECONDS

Tokens = Annotated[int, Field(strict=True, ge=1, le=MAX_TOKENS, description="Whole tokens (1 token = $0.01)")]
Text = Annotated[str, Field(min_length=1, max_length=512)]


class _In(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="forbid")


class CreateWalletIn(_In):
    org: Annotated[str, Field(pattern=names.DNS_LABEL, description="Org slug (DNS label)")]


class PurchaseIn(_In):
    tokens: Tokens


class CheckReserveIn(_In):
    tier: Annotated[str, Field(min_length=1, max_length=32, description="nano | small | medium | large | xlarge")]
    replicas: Annotated[int, Field(strict=True, ge=1, le=MAX_REPLICAS)] = 1


class HostingChargeIn(_In):
    component: Text
    hour: Annotated[str, Field(min_length=1, max_length=64, description="UTC hour bucket, ISO-8601")]
    tokens: Tokens
    tier: Annotated[str | None, Field(max_length=32)] = None
    pods: Annotated[int | None, Field(strict=True, ge=0, le=MAX_REPLICAS)] = None
    service: Annotated[str | None, Field(min_length=1, max_length=255)] = None


GRANTS_SHAPE_CHANGED = "grants_shape_changed"  # the validation error type app.py answers with that code
GRANTS_SHAPE_MESSAGE = (
    'services: bill grants no longer name a bare service (any caller can claim a name); send '
    '{"grants": [{"org": "acme", "service": "quoting"}]}: the service quoting owned by org acme')


def _org_slug(value: str) -> str:
    if not names.is_org(value):
        raise PydanticCustomError("invalid_org", "must be " + names.ORG_RULE)
    return value


def _service_name(value: str) -> str:
    if not names.is_dns_label(value):
        raise PydanticCustomError("invalid_service", "must be a service name: a DNS label (lower-case letters, "
                                  "digits and '-', at most 63 characters)")
    return value


class GrantIn(_In):
    org: Annotated[str, AfterValidator(_org_slug), Field(
        description="The calling service's owner org (an org slug)", examples=["acme"],
        json_schema_extra={"pattern": names.DNS_LABEL, "maxLength": 63})]
    service: Annotated[str, AfterValidator(_service_name), Field(
        description="The calling service (a DNS label)", examples=["quoting"],
        json_schema_extra={"pattern": names.DNS_LABEL, "maxLength": 63})]


class BillGrantsIn(_In):
    grants: Annotated[list[GrantIn], Field(max_length=1000, description="Callers that may bill this org with "
                                           "X-Bill-Org; replaces the wallet's grants")]

    @model_validator(mode="before")
    @classmethod
    def _refuse_the_old_shape(cls, data: Any) -> Any:
        if isinstance(data, dict) and "services" in data:
            raise PydanticCustomError(GRANTS_SHAPE_CHANGED, GRANTS_SHAPE_MESSAGE)
        return data


class HoldIn(_In):
    wallet: Annotated[str, Field(min_length=1, max_length=80)]
    tokens: Tokens
    ttl_seconds: Annotated[int, Field(strict=True, ge=1, le=MAX_TTL_SECONDS, alias="ttlSeconds")] = 300


class SettleIn(_In):
    provider: Annotated[str, Field(min_length=1, max_length=80, description="Provider wallet id, wallet-{org}")]
    tokens: Tokens
    service: Text
    route: Text
    method: Annotated[str, Field(min_length=1, max_length=16)]
    request_id: Annotated[str, Field(min_length=1, max_length=255, alias="requestId")]


class KeyIn(_In):
    role: Annotated[Literal["owner", "viewer"], Field(description="owner: read, buy, set bill grants, manage "
                                                      "keys; viewer: read")]
    name: Annotated[str, Field(max_length=100, description="What the key is for (shown in the list)")] = ""


class HoldBatchItem(HoldIn):
    key: Annotated[str, Field(min_length=1, max_length=255, description="This item's idempotency key")]


class SettleBatchItem(SettleIn):
    key: Annotated[str, Field(min_length=1, max_length=255, description="This item's idempotency key")]
    hold: Annotated[str, Field(min_length=1, max_length=64)]


# ------------------------------------------------------------------ responses (documentation)


class ErrorOut(BaseModel):
    model_config = ConfigDict(extra="allow")
    error: str = Field(description="UPPER_SNAKE_CODE")
    message: str
    field: str | None = None


class InsufficientGasOut(ErrorOut):
    wallet: str
    required: int
    available: int


class BalancesOut(BaseModel):
    intro: int
    purchased: int
    earned: int


class AvailableOut(BaseModel):
    hosting: int = Field(description="total − held: what hosting charges may spend (intro first)")
    api: int = Field(description="purchased + earned − held: what new API-gas holds may take")


class WalletOut(BaseModel):
    id: str
    org: str
    balances: BalancesOut
    held: int
    total: int = Field(description="intro + purchased + earned")
    available: AvailableOut


class EntryOut(BaseModel):
    account: str
    wallet: str | None
    tokenType: str | None
    amount: int


class TransactionOut(BaseModel):
    id: int
    type: str = Field(description="intro_grant | purchase | hosting_charge | api_gas | hold | release | expiry")
    time: str
    wallet: str
    counterparty: str | None
    amount: int
    hold: str | None
    details: dict[str, Any]
    actor: str | None = Field(description="admin | operator | janus | key:{id}; null: the wallet itself "
                              "(expiries) or a transaction older than actors")
    entries: list[EntryOut]


class LedgerOut(BaseModel):
    wallet: str
    transactions: list[TransactionOut]
    nextCursor: str | None


class ChargeOut(BaseModel):
    transaction: TransactionOut
    wallet: WalletOut


class ReversalOut(BaseModel):
    transaction: TransactionOut = Field(description="The compensating transaction (type reversal)")
    reverses: int = Field(description="The transaction it compensates (unchanged)")
    wallet: WalletOut


class ReserveOut(BaseModel):
    wallet: str
    tier: str
    replicas: int
    ok: bool
    balance: int
    required: int
    shortfall: int


class GrantOut(BaseModel):
    org: str
    service: str


class BillGrantsOut(BaseModel):
    wallet: str
    grants: list[GrantOut] = Field(description="Sorted by org, then service")


class HoldOut(BaseModel):
    id: str
    wallet: str
    tokens: int
    remaining: int
    settled: int
    released: int
    status: str = Field(description="open | released | expired")
    expiresAt: str
    createdAt: str


class SettlementOut(BaseModel):
    transaction: int
    hold: str
    wallet: str
    provider: str
    tokens: int
    remaining: int
    paidFrom: dict[str, int]


class BatchResultOut(BaseModel):
    key: str
    status: int = Field(description="The HTTP status this item would have had on its own")
    body: dict[str, Any]


class BatchOut(BaseModel):
    results: list[BatchResultOut]


class GasEventOut(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: int
    kind: str = Field(description="api | hosting")
    time: str
    org: str
    wallet: str
    provider: str | None
    service: str | None
    route: str | None
    method: str | None
    tokens: int
    requestId: str | None
    transaction: int


class GasEventsOut(BaseModel):
    events: list[GasEventOut]
    nextCursor: str | None


class GasStatsGroupOut(BaseModel):
    key: str
    tokens: int
    events: int
    apiTokens: int
    hostingTokens: int


class GasStatsTotalOut(BaseModel):
    tokens: int
    events: int


class GasStatsOut(BaseModel):
    by: str
    groups: list[GasStatsGroupOut]
    total: GasStatsTotalOut


class IntegrityOut(BaseModel):
    ok: bool
    problems: list[str]
    counts: dict[str, int]


class KeyCreatedOut(BaseModel):
    id: str
    key: str = Field(description="The secret: shown only in this answer (only its hash is stored)")
    role: str
    name: str
    createdAt: str


class KeyOut(BaseModel):
    id: str
    name: str
    role: str
    createdAt: str
    lastUsedAt: str | None


class KeysOut(BaseModel):
    wallet: str
    keys: list[KeyOut]


class HealthOut(BaseModel):
    status: str
    database: str
    version: str
