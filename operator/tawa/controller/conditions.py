"""status.conditions, Kubernetes style (pure)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any


@dataclass(frozen=True)
class Condition:
    type: str
    status: bool
    reason: str
    message: str


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def merge_conditions(
    current: Iterable[Mapping[str, Any]], updates: Iterable[Condition], generation: int | None
) -> list[dict[str, Any]]:
    """Apply updates; lastTransitionTime moves only when a condition's status flips."""
    merged = {c["type"]: dict(c) for c in current}
    for update in updates:
        status = "True" if update.status else "False"
        previous = merged.get(update.type, {})
        changed = previous.get("status") != status
        merged[update.type] = {
            "type": update.type,
            "status": status,
            "reason": update.reason,
            "message": update.message,
            "lastTransitionTime": now_iso() if changed else previous.get("lastTransitionTime", now_iso()),
        }
        if generation is not None:  # unknown before the first reconcile has been recorded
            merged[update.type]["observedGeneration"] = generation
    return list(merged.values())
