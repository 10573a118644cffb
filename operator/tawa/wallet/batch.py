"""Batch calls (`/v1/holds/batch`, `/v1/settlements/batch`): every item is a command with its own
idempotency key and its own answer; a malformed item is answered 4xx without failing the others."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Literal

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from tawa.refusal import Refusal
from tawa.wallet import domain as d
from tawa.wallet.body import PARSED, shown_name
from tawa.wallet.settings import MAX_BATCH
from tawa.wallet.web import Commands, JSONResponse, error, missing_key, refused, unknown_field

Kind = Literal["hold", "settle"]
_NO_BODY = object()


async def run_batch(commands: Commands, request: Request, key: str | None, kind: Kind) -> JSONResponse:
    if not key:
        return missing_key()
    payload = getattr(request.state, PARSED, _NO_BODY)  # parsed, strictly, by BodyGuard
    if payload is _NO_BODY:
        return error(400, "INVALID_JSON", 'body: send a JSON object {"items": [...]}', "body")
    if isinstance(payload, dict) and (unknown := sorted(set(payload) - {"items"})):
        return refused(unknown_field(shown_name(unknown[0]) or "?"))
    items = payload.get("items") if isinstance(payload, dict) else None
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_BATCH:
        return error(422, "INVALID_FIELD", f"items: send a list of 1 to {MAX_BATCH} items", "items")
    parsed = [_item_command(kind, item) for item in items]
    todo = [(p[0], replace(p[1], actor=commands.actor)) for p in parsed if isinstance(p, tuple)]
    answers = await run_in_threadpool(commands.store.apply, todo) if todo else []
    commands.metrics.batch.labels(kind).observe(len(items))
    commands.metrics.record(todo, answers)
    return JSONResponse({"results": _results(items, parsed, iter(answers))})


def _results(items: list[Any], parsed: list[tuple[str, d.Command] | d.Outcome],
             answers: Any) -> list[dict[str, Any]]:
    """Each item's answer, in the items' order: the ledger's, or the item's own 4xx."""
    results = []
    for item, p in zip(items, parsed, strict=True):
        if isinstance(p, tuple):
            results.append({"key": p[0], "status": (out := next(answers)).status, "body": out.body})
        else:
            echo = item.get("key") if isinstance(item, dict) and isinstance(item.get("key"), str) else ""
            results.append({"key": echo, "status": p.status, "body": p.body})
    return results


_FIELDS: dict[Kind, tuple[str, ...]] = {
    "hold": ("wallet", "tokens"), "settle": ("hold", "provider", "tokens", "service", "route", "method", "requestId")}
_OPTIONAL: dict[Kind, tuple[str, ...]] = {"hold": ("ttlSeconds",), "settle": ()}


def _item_command(kind: Kind, item: Any) -> tuple[str, d.Command] | d.Outcome:
    """A batch item → (key, command), or the 4xx outcome for a malformed item."""
    refusal = _item_problem(kind, item)
    if refusal is not None:
        return d.Outcome(refusal.status, refusal.body())
    if kind == "hold":
        return item["key"], d.PlaceHold(item["wallet"], item["tokens"], item.get("ttlSeconds", 300))
    return item["key"], d.Settle(item["hold"], item["provider"], item["tokens"], item["service"], item["route"],
                                 item["method"], item["requestId"])


def _item_problem(kind: Kind, item: Any) -> Refusal | None:
    if not isinstance(item, dict):
        return Refusal(422, "INVALID_FIELD", "items: every item must be a JSON object", "items")
    key = item.get("key")
    if not isinstance(key, str) or not 0 < len(key) <= 255:
        return Refusal(422, "INVALID_FIELD", "key: every item needs its own idempotency key, a string of 1 to "
                       "255 characters", "key")
    names = _FIELDS[kind]
    if unknown := sorted(set(item) - {"key", *names, *_OPTIONAL[kind]}):
        return unknown_field(shown_name(unknown[0]) or "?")
    if missing := next((name for name in names if name not in item), None):
        return Refusal(422, "MISSING_FIELD", f"{missing}: this field is required", missing)
    if wrong := next((name for name in names if name != "tokens" and type(item[name]) is not str), None):
        return Refusal(422, "INVALID_FIELD", f"{wrong}: must be a string", wrong)
    return None
