"""What a service costs: hosting by tier and every route's API-gas price (pure).
The shape is the `tawa gas pricing --json` contract; `component_row` is what a deployed
Component burns now (`tawa status`, the console's Components page)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tawa.gas.pricing import PricedRoute, route_price
from tawa.gas.tiers import TIERS, PodTier
from tawa.resource import condition


def pricing_report(
    service: str, tier: PodTier, replicas: int, routes: Iterable[PricedRoute],
    platform_routes: Iterable[PricedRoute] = (),
) -> dict[str, Any]:
    platform = tuple(platform_routes)
    rows = []
    for route in routes:
        price = route_price(route, platform)
        rows.append({"path": route.path, "methods": list(route.methods), "auth": route.auth,
                     "gas": price.gas, "source": price.source})
    return {
        "service": service,
        "hosting": {
            "tier": tier.name,
            "replicas": replicas,
            "tokensPerHour": tier.tokens_per_hour * replicas,
            "tokensPerMonth": tier.tokens_per_month * replicas,
            "reserve": tier.reserve(replicas),
        },
        "routes": rows,
    }


def component_row(obj: dict[str, Any]) -> dict[str, Any]:
    """A Component object's namespace, name, tier, deploy gate, ready pods and tokens/hour."""
    status = obj.get("status") or {}
    running = status.get("runningTier") or status.get("tier")  # a tier change waits for its gate and rollout
    return {"namespace": obj["metadata"]["namespace"], "name": obj["metadata"]["name"],
            "tier": status.get("tier"), "gate": (condition(status, "DeployGate") or {}).get("reason"),
            "ready": status.get("ready", "0/0"),
            "tokensPerHour": (status.get("readyReplicas") or 0) * _rate(running)}


def _rate(tier: str | None) -> int:
    return TIERS[tier].tokens_per_hour if tier in TIERS else 0
