"""The API-gas price cascade (pure): route.gas, then the platform table, then 1.

A request matches the route with the longest path that is a segment-wise
prefix of the request path and lists the request's method. `:name` segments in
a route path match any one segment. Segments compare case-sensitively;
`fold_case=True` compares them case-insensitively, which is how Janus finds a
path whose price a case-insensitive upstream (Express's default) would change.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

DEFAULT_GAS = 1
PriceSource = Literal["route", "platform", "default"]


@dataclass(frozen=True)
class PricedRoute:
    """The parts of a route that pricing and auth need."""

    path: str
    methods: tuple[str, ...]
    auth: str = "service"
    gas: int | None = None


@dataclass(frozen=True)
class Price:
    gas: int
    source: PriceSource
    route: PricedRoute | None

    @property
    def auth(self) -> str:
        """Unmatched requests need a service identity: public is opt-in."""
        return self.route.auth if self.route else "service"


def _segments(path: str) -> list[str]:
    return [s for s in path.split("/") if s]


def _prefix_matches(route_path: str, request_path: str, fold_case: bool = False) -> bool:
    if fold_case:
        route_path, request_path = route_path.lower(), request_path.lower()
    route, request = _segments(route_path), _segments(request_path)
    if len(route) > len(request):
        return False
    return all(r == q or r.startswith(":") for r, q in zip(route, request, strict=False))


def _method_matches(route: PricedRoute, method: str) -> bool:
    method = "GET" if method.upper() == "HEAD" else method.upper()
    return not route.methods or method in route.methods


def match_route(routes: Iterable[PricedRoute], path: str, method: str, fold_case: bool = False
                ) -> PricedRoute | None:
    """The most specific route (most path segments) for a request, if any."""
    candidates = [
        r for r in routes if _prefix_matches(r.path, path, fold_case) and _method_matches(r, method)
    ]
    return max(candidates, key=lambda r: len(_segments(r.path)), default=None)


def price_request(
    routes: Iterable[PricedRoute],
    path: str,
    method: str,
    platform_routes: Iterable[PricedRoute] = (),
    fold_case: bool = False,
) -> Price:
    route = match_route(routes, path, method, fold_case)
    if route is not None and route.gas is not None:
        return Price(route.gas, "route", route)
    legacy = match_route(platform_routes, path, method, fold_case)
    if legacy is not None and legacy.gas is not None:
        return Price(legacy.gas, "platform", route or legacy)
    return Price(DEFAULT_GAS, "default", route)


def route_price(route: PricedRoute, platform_routes: Iterable[PricedRoute] = ()) -> Price:
    """The price a declared route is billed at (for `tawa gas pricing`)."""
    method = route.methods[0] if route.methods else "GET"
    return price_request([route], route.path, method, platform_routes)
