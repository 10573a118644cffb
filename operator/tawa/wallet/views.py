"""The wallet's wire views: the camelCase JSON the HTTP API answers, built from the domain's
values (`tawa.wallet.domain`). Pure. The same bodies are stored as idempotent answers, so a
shape here is a shape the wallet keeps answering for as long as keys are kept."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson

from tawa.names import Grant
from tawa.refusal import Refusal
from tawa.wallet.domain import (
    MICROS,
    Answer,
    Charged,
    HoldState,
    Outcome,
    ReserveChecked,
    Reversed,
    Settled,
    Txn,
    WalletState,
)


def iso(micros: int) -> str:
    """UTC ISO-8601 with a Z, to the microsecond (pure arithmetic, no tz lookups)."""
    return datetime.fromtimestamp(micros / MICROS, tz=UTC).isoformat().replace("+00:00", "Z")


def outcome(answer: Answer) -> Outcome:
    """A command's answer as status and JSON body: render it at once (its states are live)."""
    return Outcome(answer.status, _body(answer.result))


def _body(result: Any) -> dict[str, Any]:
    match result:
        case Refusal():
            return result.body()
        case WalletState():
            return wallet_view(result)
        case HoldState():
            return hold_view(result)
        case Charged(txn=txn, wallet=w):
            return {"transaction": txn_view(txn), "wallet": wallet_view(w)}
        case ReserveChecked():
            return {"wallet": result.wallet, "tier": result.tier, "replicas": result.replicas, "ok": result.ok,
                    "balance": result.balance, "required": result.required, "shortfall": result.shortfall}
        case Settled():
            return {"transaction": result.txn, "hold": result.hold, "wallet": result.wallet,
                    "provider": result.provider, "tokens": result.tokens, "remaining": result.remaining,
                    "paidFrom": result.paid_from}
        case Reversed(txn=txn, reverses=reverses, wallet=w):
            return {"transaction": txn_view(txn), "reverses": reverses, "wallet": wallet_view(w)}
    raise TypeError(f"no view for {type(result).__name__}")


def wallet_view(w: WalletState) -> dict[str, Any]:
    return {"id": w.id, "org": w.org, "balances": {"intro": w.intro, "purchased": w.purchased, "earned": w.earned},
            "held": w.held, "total": w.total,
            "available": {"hosting": w.available_hosting, "api": w.available_api}}


def txn_view(t: Txn) -> dict[str, Any]:
    return {"id": t.id, "type": str(t.type), "time": iso(t.created_at), "wallet": t.wallet,
            "counterparty": t.counterparty, "amount": t.amount, "hold": t.hold, "details": t.details,
            "actor": t.actor,
            "entries": [{"account": e.account, "wallet": e.wallet, "tokenType": e.token_type, "amount": e.amount}
                        for e in t.entries]}


def hold_view(h: HoldState) -> dict[str, Any]:
    return {"id": h.id, "wallet": h.wallet, "tokens": h.tokens, "remaining": h.remaining, "settled": h.settled,
            "released": h.released, "status": str(h.status), "expiresAt": iso(h.expires_at),
            "createdAt": iso(h.created_at)}


def grants_view(wallet_id: str, grants: Sequence[Grant]) -> dict[str, Any]:
    return {"wallet": wallet_id, "grants": [g.json() for g in grants]}


def new_key_view(key_id: str, key: str, role: str, name: str, created_at: int) -> dict[str, Any]:
    """The only answer that ever shows a key's secret."""
    return {"id": key_id, "key": key, "role": role, "name": name, "createdAt": iso(created_at)}


def key_view(r: Any) -> dict[str, Any]:
    """An org_keys row, without its hash."""
    return {"id": r.id, "name": r.name, "role": r.role, "createdAt": iso(r.created_at),
            "lastUsedAt": iso(r.last_used_at) if r.last_used_at is not None else None}


def event_view(r: Any) -> dict[str, Any]:
    """A gas_events row; its details add keys the view does not have already."""
    view = {"id": r.id, "kind": r.kind, "time": iso(r.created_at), "org": r.org, "wallet": r.wallet_id,
            "provider": r.provider, "service": r.service, "route": r.route, "method": r.method, "tokens": r.tokens,
            "requestId": r.request_id, "transaction": r.txn_id}
    if r.details:
        view.update({k: v for k, v in orjson.loads(r.details).items() if k not in view})
    return view

