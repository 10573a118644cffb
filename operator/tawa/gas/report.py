"""What a service costs: hosting by tier and every route's API-gas price (pure).
The shape is the `tawa gas pricing --json` contract."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tawa.gas.pricing import PricedRoute, route_price
from tawa.gas.tiers import PodTier


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
